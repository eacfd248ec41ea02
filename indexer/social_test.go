package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

func socialEvent(table string, op change.Op, row string) change.Event {
	e := change.Event{Op: op, Source: change.Source{Table: table, LSN: 42}}
	if op == change.OpDelete {
		e.Before = []byte(row)
	} else if op != change.OpTruncate {
		e.After = []byte(row)
	}
	return e
}

func TestSocialChange(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	p := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name  string
		table string
		op    change.Op
		row   string
		want  signals.Change // Version 42 is added
		bad   string         // the failing column, for a bad row
	}{
		{"seller before 0003", "sellers", "c", `{"id":"s1","username":"ann","display_name":"Ann","created_at":"2026-03-04T05:06:07Z"}`,
			signals.Change{Seller: &signals.Seller{ID: "s1", Username: "ann", DisplayName: "Ann", Status: "active"}}, ""},
		{"seller suspended", "sellers", "u", `{"id":"s1","username":"ann","status":"suspended"}`,
			signals.Change{Seller: &signals.Seller{ID: "s1", Username: "ann", Status: "suspended"}}, ""},
		{"seller bad status", "sellers", "u", `{"id":"s1","username":"ann","status":"banned"}`, signals.Change{}, "status"},
		{"seller delete, key only", "sellers", "d", `{"id":"s1"}`,
			signals.Change{Delete: true, Seller: &signals.Seller{ID: "s1", Status: "active"}}, ""},
		{"follow", "follows", "c", `{"follower_id":"u1","seller_id":"s1","created_at":"2026-03-04T05:06:07Z"}`,
			signals.Change{Follow: &signals.Follow{Follower: "u1", Seller: "s1", At: at}}, ""},
		{"follow, Debezium micros", "follows", "r", `{"follower_id":"u1","seller_id":"s1","created_at":1772600767000000}`,
			signals.Change{Follow: &signals.Follow{Follower: "u1", Seller: "s1", At: at}}, ""},
		{"follow without follower", "follows", "c", `{"seller_id":"s1"}`, signals.Change{}, "follower_id"},
		{"like delete carries the old row", "likes", "d", `{"user_id":"u1","listing_id":"l1","created_at":"2026-03-04 05:06:07+00"}`,
			signals.Change{Delete: true, Like: &signals.Like{User: "u1", Listing: "l1", At: at}}, ""},
		{"like bad time", "likes", "c", `{"user_id":"u1","listing_id":"l1","created_at":"yesterday"}`, signals.Change{}, "created_at"},
		{"share into a party", "shares", "c", `{"id":9,"user_id":"u1","listing_id":"l1","party_id":"p1","created_at":"2026-03-04T05:06:07Z"}`,
			signals.Change{Share: &signals.Share{ID: 9, User: "u1", Listing: "l1", Party: "p1", At: at}}, ""},
		{"share, id as text", "shares", "c", `{"id":"9","user_id":"u1","listing_id":"l1","party_id":null}`,
			signals.Change{Share: &signals.Share{ID: 9, User: "u1", Listing: "l1"}}, ""},
		{"share without listing", "shares", "c", `{"id":9,"user_id":"u1"}`, signals.Change{}, "listing_id"},
		{"share bad id", "shares", "c", `{"id":"x","user_id":"u1","listing_id":"l1"}`, signals.Change{}, "id"},
		{"party", "parties", "c", `{"id":"p1","name":"Nike night","theme":{"brand":["Nike"],"category":"Women/Shoes","price_max":5000},"starts_at":"2026-03-04T05:06:07Z","ends_at":"2026-03-04T07:06:07Z"}`,
			signals.Change{Party: &signals.Party{ID: "p1", Name: "Nike night", StartsAt: at, EndsAt: at.Add(2 * time.Hour),
				Theme: signals.Theme{Filters: query.Filters{Brands: []string{"Nike"}, Category: []string{"Women", "Shoes"}, PriceMax: p(5000)}}}}, ""},
		{"party, Debezium json string", "parties", "c", `{"id":"p1","name":"n","theme":"{\"q\":\"boots\"}","starts_at":"2026-03-04T05:06:07Z","ends_at":"2026-03-04T07:06:07Z"}`,
			signals.Change{Party: &signals.Party{ID: "p1", Name: "n", StartsAt: at, EndsAt: at.Add(2 * time.Hour), Theme: signals.Theme{Query: "boots"}}}, ""},
		{"party bad theme", "parties", "c", `{"id":"p1","name":"n","theme":{"colour":["red"]},"starts_at":"2026-03-04T05:06:07Z","ends_at":"2026-03-04T07:06:07Z"}`, signals.Change{}, "theme"},
		{"party empty window", "parties", "u", `{"id":"p1","name":"n","starts_at":"2026-03-04T05:06:07Z","ends_at":"2026-03-04T05:06:07Z"}`, signals.Change{}, "ends_at"},
		{"party delete with a bad theme", "parties", "d", `{"id":"p1","name":"n","theme":{"colour":["red"]}}`,
			signals.Change{Delete: true, Party: &signals.Party{ID: "p1", Name: "n"}}, ""},
		{"block", "blocks", "c", `{"user_id":"u1","seller_id":"s1","created_at":"2026-03-04T05:06:07Z"}`,
			signals.Change{Block: &signals.Block{User: "u1", Seller: "s1", At: at}}, ""},
		{"block delete without key", "blocks", "d", `{"user_id":"u1"}`, signals.Change{}, "seller_id"},
		{"truncate", "shares", "t", "", signals.Change{Truncate: "shares"}, ""},
		{"not an object", "likes", "c", `[1,2]`, signals.Change{}, "(row)"},
		{"unknown columns are ignored", "likes", "c", `{"user_id":"u1","listing_id":"l1","weight":3}`,
			signals.Change{Like: &signals.Like{User: "u1", Listing: "l1"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SocialChange(socialEvent(tc.table, tc.op, tc.row))
			if tc.bad != "" {
				var te *TransformError
				if !errors.As(err, &te) || te.Field != tc.bad {
					t.Fatalf("got %+v, err %v; want a bad row at %s", got, err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Version = 42
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", show(got), show(tc.want))
			}
		})
	}
}

func show(c signals.Change) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// heldPositions is a signals.Writer that holds the given positions.
type heldPositions []signals.Position

func (heldPositions) Apply(context.Context, signals.Batch) error { return nil }

func (h heldPositions) Positions(context.Context) ([]signals.Position, error) { return h, nil }

func TestRewindTopics(t *testing.T) {
	topics := []string{"r.public.listings", "r.public.sellers", "r.public.follows", "r.public.audit"}
	for _, tc := range []struct {
		name  string
		store signals.Writer
		want  []string
	}{
		{"no store", nil, nil},
		{"new or emptied store", heldPositions{}, []string{"r.public.sellers", "r.public.follows"}},
		{"a social topic the store never got", heldPositions{{Topic: "r.public.sellers", Partition: 3, Offset: 9}}, []string{"r.public.follows"}},
		{"every social topic held", heldPositions{{Topic: "r.public.sellers"}, {Topic: "r.public.follows", Partition: 1}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RewindTopics(context.Background(), tc.store, topics)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("RewindTopics = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
