package indexer

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/change"
)

// BenchmarkDecodeListingEvent decodes listing events shaped as the CDC
// writes them (the row's columns are the document's fields) into index
// changes: the indexer's decode stage per message.
//
//	go test ./indexer -run '^$' -bench DecodeListingEvent -benchmem
func BenchmarkDecodeListingEvent(b *testing.B) {
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: 1, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Count: 1000})
	if err != nil {
		b.Fatal(err)
	}
	type msg struct{ key, value []byte }
	var msgs []msg
	for i := 0; i < 1000; i++ {
		l := g.Listing(i)
		row, err := json.Marshal(l)
		if err != nil {
			b.Fatal(err)
		}
		e := change.Event{After: row, Op: change.OpRead, TsMs: 1, Source: change.Source{LSN: uint64(100 + i), TxID: 7, Schema: "public", Table: "listings", Snapshot: "true"}}
		v, err := e.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		k, _ := json.Marshal(map[string]string{"id": l.ID})
		msgs = append(msgs, msg{k, v})
	}
	var bytes int
	for _, m := range msgs {
		bytes += len(m.value)
	}
	b.SetBytes(int64(bytes / len(msgs)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		e, err := DecodeEvent("rummage.public.listings", m.key, m.value)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := listingChange(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeShareEvent decodes share events as the CDC writes them
// into signals changes: the signals applier's decode stage per message.
//
//	go test ./indexer -run '^$' -bench DecodeShareEvent -benchmem
func BenchmarkDecodeShareEvent(b *testing.B) {
	type msg struct{ key, value []byte }
	var msgs []msg
	for i := range 1000 {
		row := fmt.Sprintf(`{"id":%d,"user_id":"u%07d","listing_id":"l%07d","party_id":"p0042","created_at":"2026-11-01T20:%02d:%02d.123456Z"}`, i, i*7919%100000, i*104729%1000000, i/60%60, i%60)
		e := change.Event{After: json.RawMessage(row), Op: change.OpCreate, TsMs: 1, Source: change.Source{LSN: uint64(100 + i), TxID: 7, Schema: "public", Table: "shares", Seq: 1}}
		v, err := e.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, msg{[]byte(fmt.Sprintf(`{"id":%d}`, i)), v})
	}
	b.SetBytes(int64(len(msgs[0].value)))
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		e, err := DecodeEvent("rummage.public.shares", m.key, m.value)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := SocialChange(e); err != nil {
			b.Fatal(err)
		}
	}
}
