package stagecpu

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Key is the pprof label key of a goroutine's stage.
const Key = "rummage.stage"

// The stages of the dev pipeline.
const (
	CDC     = "cdc"     // logical replication → change events, and its Kafka writer
	Kafka   = "kafka"   // the in-process broker
	Indexer = "indexer" // fetch, decode, the listing applier, counters, invalidation
	Signals = "signals" // the signals store's applier
	API     = "api"     // the HTTP server
	Events  = "events"  // the event path: impressions, rollups, affinities
	// Other is CPU without a stage label: the garbage collector's
	// background workers, the runtime, goroutines started outside a stage.
	Other = "other"
)

// Do runs f with the stage label set on the calling goroutine (and on the
// goroutines f starts), as pprof.Do does.
func Do(ctx context.Context, stage string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(Key, stage), f)
}

// Split reads a CPU profile (the gzipped protobuf of runtime/pprof, or
// /debug/pprof/profile) and returns its CPU time by stage: the samples'
// Key label, Other for samples without one.
func Split(profile []byte) (map[string]time.Duration, error) {
	raw, err := gunzip(profile)
	if err != nil {
		return nil, err
	}
	type sample struct {
		values []int64
		stage  int64 // string index of the label's value; -1: none
	}
	var (
		strs    []string
		types   []int64 // sample_type: string index of each value's type
		samples []sample
		labels  [][2]int64 // per sample: raw (key, str) pairs, resolved once strs is read
		owner   []int
	)
	err = fields(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType: // sample_type
			return fields(v, func(n protowire.Number, t protowire.Type, _ []byte, x uint64) error {
				if n == 1 && t == protowire.VarintType {
					types = append(types, int64(x))
				}
				return nil
			})
		case num == 2 && typ == protowire.BytesType: // sample
			s := sample{stage: -1}
			i := len(samples)
			err := fields(v, func(n protowire.Number, t protowire.Type, b []byte, x uint64) error {
				switch {
				case n == 2 && t == protowire.BytesType: // packed values
					for len(b) > 0 {
						u, k := protowire.ConsumeVarint(b)
						if k < 0 {
							return protowire.ParseError(k)
						}
						s.values, b = append(s.values, int64(u)), b[k:]
					}
				case n == 2 && t == protowire.VarintType:
					s.values = append(s.values, int64(x))
				case n == 3 && t == protowire.BytesType: // label
					var l [2]int64
					err := fields(b, func(n protowire.Number, t protowire.Type, _ []byte, x uint64) error {
						if t == protowire.VarintType && (n == 1 || n == 2) {
							l[n-1] = int64(x)
						}
						return nil
					})
					labels, owner = append(labels, l), append(owner, i)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case num == 6 && typ == protowire.BytesType: // string_table
			strs = append(strs, string(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stagecpu: profile: %w", err)
	}
	cpu := -1
	for i, t := range types {
		if t >= 0 && int(t) < len(strs) && strs[t] == "cpu" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, errors.New("stagecpu: not a CPU profile (no \"cpu\" sample type)")
	}
	for j, l := range labels {
		if l[0] < int64(len(strs)) && strs[l[0]] == Key {
			samples[owner[j]].stage = l[1]
		}
	}
	out := map[string]time.Duration{}
	for _, s := range samples {
		if cpu >= len(s.values) {
			continue
		}
		name := Other
		if s.stage >= 0 && s.stage < int64(len(strs)) {
			name = strs[s.stage]
		}
		out[name] += time.Duration(s.values[cpu])
	}
	return out, nil
}

func gunzip(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil // not compressed
	}
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("stagecpu: profile: %w", err)
	}
	return io.ReadAll(r)
}

// fields calls f with each field of the protobuf message b: its number,
// wire type, bytes (length-delimited) or value (varint).
func fields(b []byte, f func(protowire.Number, protowire.Type, []byte, uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
