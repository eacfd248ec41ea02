package indexer

import (
	"context"
	"errors"
	"testing"
)

type fakePositions struct {
	end, committed map[TopicPartition]int64
	err            error
}

func (f *fakePositions) Positions(context.Context) (map[TopicPartition]int64, map[TopicPartition]int64, error) {
	return f.end, f.committed, f.err
}

func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	a, b := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	src := &fakePositions{end: map[TopicPartition]int64{a: 500, b: 300}, committed: map[TopicPartition]int64{a: 100}}
	c := NewCatchUp(src, 0)
	c.every = 0
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(wantLag int64, wantOK bool) {
		t.Helper()
		lag, ok, err := c.Check(ctx)
		if err != nil || lag != wantLag || ok != wantOK {
			t.Fatalf("Check = %d, %v, %v; want %d, %v", lag, ok, err, wantLag, wantOK)
		}
	}
	check(700, false)
	// The log grows while the indexer works: the target is the end seen
	// at start.
	src.end = map[TopicPartition]int64{a: 900, b: 300}
	src.committed = map[TopicPartition]int64{a: 500, b: 299}
	check(401, false)
	src.committed = map[TopicPartition]int64{a: 520, b: 300}
	check(380, true)
	// Caught up stays caught up; the lag is still reported.
	src.end = map[TopicPartition]int64{a: 5000, b: 300}
	check(4480, true)
	src.err = errors.New("broker gone")
	if _, ok, err := c.Check(ctx); err == nil || !ok {
		t.Errorf("on an error: ok %v err %v", ok, err)
	}
}

func TestCatchUpMaxLag(t *testing.T) {
	a := TopicPartition{"t", 0}
	src := &fakePositions{end: map[TopicPartition]int64{a: 10000}, committed: map[TopicPartition]int64{a: 9950}}
	c := NewCatchUp(src, 100)
	if lag, ok, err := c.Check(context.Background()); err != nil || lag != 50 || !ok {
		t.Errorf("within the max lag: %d %v %v", lag, ok, err)
	}
}
