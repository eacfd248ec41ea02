package kafkainv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topic is the invalidation topic of prefix.
func Topic(prefix string) string { return prefix + ".invalidations" }

// maxDeps is the most dependencies one message carries.
const maxDeps = 4096

// message is one topic message.
type message struct {
	Deps []string `json:"deps"`
	At   int64    `json:"at_ms"` // when it was published, for the lag metric
}

// Publisher writes invalidations to the topic.
type Publisher struct {
	w *kafka.Writer
	c *kafka.Client
}

// NewPublisher returns a publisher to Topic(prefix) on brokers.
func NewPublisher(brokers []string, prefix string) *Publisher {
	addr := kafka.TCP(brokers...)
	return &Publisher{
		w: &kafka.Writer{Addr: addr, Topic: Topic(prefix), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
			AllowAutoTopicCreation: true},
		c: &kafka.Client{Addr: addr, Timeout: 10 * time.Second},
	}
}

// EnsureTopic creates the topic (one partition) when it does not exist.
func (p *Publisher) EnsureTopic(ctx context.Context) error {
	res, err := p.c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: p.w.Topic, NumPartitions: 1, ReplicationFactor: -1}}})
	if err != nil {
		return fmt.Errorf("kafkainv: create topic %s: %w", p.w.Topic, err)
	}
	if err := res.Errors[p.w.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("kafkainv: create topic %s: %w", p.w.Topic, err)
	}
	return nil
}

// Send publishes deps and returns once the broker acknowledged them: the
// indexer commits its offsets only then.
func (p *Publisher) Send(ctx context.Context, deps []string) error {
	var msgs []kafka.Message
	now := time.Now().UnixMilli()
	for len(deps) > 0 {
		n := min(len(deps), maxDeps)
		b, err := json.Marshal(message{Deps: deps[:n], At: now})
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Value: b})
		deps = deps[n:]
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("kafkainv: publish %d messages: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }

// Target is what a subscriber invalidates: *cache.Cache.
type Target interface {
	InvalidateDeps(deps []string)
	Clear()
}

// Subscriber reads the topic into a Target.
type Subscriber struct {
	Brokers []string
	Prefix  string
	Target  Target
	Logger  *slog.Logger
	// Retry is the wait after a read error (1 s).
	Retry time.Duration
	// Check is how long the subscriber waits for a message before it asks
	// the broker whether the topic still reaches its position (1 s): a
	// topic recreated or truncated under it leaves a reader waiting.
	Check time.Duration
	// Lost counts the times the subscriber lost its place and cleared the
	// target (for tests and the log).
	Lost func()
}

// Start resolves the topic's end (so that nothing published after Start
// returns is missed), clears the target, and reads in the background
// until ctx ends.
func (s *Subscriber) Start(ctx context.Context) error {
	off, err := s.end(ctx)
	if err != nil {
		return err
	}
	s.Target.Clear()
	go s.run(ctx, off)
	return nil
}

func (s *Subscriber) end(ctx context.Context) (int64, error) {
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialLeader(ctx, "tcp", s.Brokers[0], Topic(s.Prefix), 0)
	if err != nil {
		return 0, fmt.Errorf("kafkainv: dial %s: %w", Topic(s.Prefix), err)
	}
	defer conn.Close()
	off, err := conn.ReadLastOffset()
	if err != nil {
		return 0, fmt.Errorf("kafkainv: last offset of %s: %w", Topic(s.Prefix), err)
	}
	return off, nil
}

func (s *Subscriber) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// run reads from off; on a gap or an error it clears the target and
// starts again from the end.
func (s *Subscriber) run(ctx context.Context, off int64) {
	retry := s.Retry
	if retry == 0 {
		retry = time.Second
	}
	for ctx.Err() == nil {
		err := s.read(ctx, off)
		if ctx.Err() != nil {
			return
		}
		s.log().Warn("kafkainv: lost the invalidation stream; dropping the cache", "err", err)
		s.Target.Clear()
		if s.Lost != nil {
			s.Lost()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		for ctx.Err() == nil {
			if off, err = s.end(ctx); err == nil {
				s.Target.Clear() // what was filled while the stream was away
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
		}
	}
}

// read applies messages from off until an error or a gap.
func (s *Subscriber) read(ctx context.Context, off int64) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.Brokers, Topic: Topic(s.Prefix), Partition: 0,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond, MaxAttempts: 1,
		Dialer: &kafka.Dialer{Timeout: 5 * time.Second}})
	defer r.Close()
	if err := r.SetOffset(off); err != nil {
		return err
	}
	check := s.Check
	if check == 0 {
		check = time.Second
	}
	next := off
	for {
		rctx, cancel := context.WithTimeout(ctx, check)
		m, err := r.ReadMessage(rctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			end, eerr := s.end(ctx)
			switch {
			case eerr != nil:
				return eerr
			case end < next:
				return fmt.Errorf("the topic ends at %d, before the position %d: it was recreated or truncated", end, next)
			}
			continue
		}
		if err != nil {
			return err
		}
		if m.Offset != next {
			return fmt.Errorf("offset %d, expected %d: messages were missed", m.Offset, next)
		}
		next = m.Offset + 1
		var msg message
		if err := json.Unmarshal(m.Value, &msg); err != nil {
			return fmt.Errorf("offset %d: %w", m.Offset, err)
		}
		s.Target.InvalidateDeps(msg.Deps)
	}
}
