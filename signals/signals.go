package signals

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage/query"
)

// The social rows Rummage follows from the marketplace's Postgres (the
// tables of DESIGN.md "Social tables"), as the indexer decodes them from the
// change stream. Times are the rows' created_at; ids are the marketplace's.

// Seller statuses.
const (
	SellerActive    = "active"
	SellerSuspended = "suspended"
)

// Seller is a row of sellers: a closet. A suspended seller's listings never
// appear on any surface.
type Seller struct {
	ID          string
	Username    string
	DisplayName string
	Status      string // SellerActive or SellerSuspended
}

// Follow is a row of follows: Follower follows the closet Seller.
type Follow struct {
	Follower, Seller string
	At               time.Time
}

// Like is a row of likes.
type Like struct {
	User, Listing string
	At            time.Time
}

// Share is a row of shares: User shared Listing, into Party when it is set.
type Share struct {
	ID      int64
	User    string
	Listing string
	Party   string // "" for a share into the user's own followers' feeds only
	At      time.Time
}

// Block is a row of blocks: User never sees Seller's closet.
type Block struct {
	User, Seller string
	At           time.Time
}

// Party is a row of parties. Theme is a saved search in the shape of the
// search parameters; a listing matches the party when the search would
// return it.
type Party struct {
	ID       string
	Name     string
	Theme    Theme
	StartsAt time.Time
	EndsAt   time.Time
}

// Theme is a party's saved search: {"q", "brand", "size", "condition",
// "color", "category", "price_min", "price_max"}, every key optional.
type Theme struct {
	Query   string
	Filters query.Filters
}

// Tables whose rows are social state, in the order Change's fields name them.
const (
	TableSellers = "sellers"
	TableFollows = "follows"
	TableLikes   = "likes"
	TableShares  = "shares"
	TableParties = "parties"
	TableBlocks  = "blocks"
)

// Change is one versioned change of a social row. Exactly one of the row
// fields is set, or Truncate names a table. A delete carries the deleted
// row (the tables are REPLICA IDENTITY FULL).
//
// The version rule is the listings' (query.Change): a change whose Version
// is below the version held for its row's key is stale and ignored (a
// delete's version is remembered while it matters: a replayed insert older
// than the delete must not resurrect the row); an equal version is applied,
// the stream's order deciding (within a batch the later change wins), as for
// listings. Changes of one key arrive in order (one partition per key), so a
// replay from any position converges.
type Change struct {
	Version uint64 // the commit LSN
	Delete  bool

	Seller *Seller
	Follow *Follow
	Like   *Like
	Share  *Share
	Party  *Party
	Block  *Block
	// Truncate, when set, removes every row of that table whose version is
	// below Version, and is the table's floor from then on: a change of it
	// below Version arriving later is stale.
	Truncate string
}

// Position is where a partition of the change stream has been applied up
// to, inclusive. A store keeps its positions durably with its data.
type Position struct {
	Topic     string
	Partition int
	Offset    int64
}

// Batch is what the signals applier hands the store at once: changes in
// stream order and the positions they bring the stream to.
type Batch struct {
	Changes   []Change
	Positions []Position
}

// Writer is the write side of a store (the indexer's signals applier).
type Writer interface {
	// Apply applies the batch and records its positions, atomically: when
	// it returns nil both are durable, and after a crash either both or
	// neither are there. On error nothing may be assumed; the caller
	// retries the batch (versions make a replay harmless).
	Apply(ctx context.Context, b Batch) error
	// Positions returns the positions the store holds; none for a store
	// that is new or was emptied (the applier then reads the stream from
	// its start).
	Positions(ctx context.Context) ([]Position, error)
}

// ErrLost, wrapped by an error of a store's Apply, means the store lost
// its data under its writer (a Redis emptied or replaced): no retry can
// succeed, since the stream's committed positions are past rows it no
// longer holds. The writer must stop; Positions then answers none and the
// stream is read again from its start.
var ErrLost = errors.New("signals: the store lost its data")

// ErrNotFound is returned for an unknown party.
var ErrNotFound = errors.New("signals: not found")

// ListingAt is a listing with the instant of an event about it.
type ListingAt struct {
	Listing string
	At      time.Time
	By      string // the user whose event it is, when the call says so
}

// Shared is SharedBy's answer, as parallel slices (no pointer per share
// but the listing id's, which a store interns): Listings[i] was last shared
// at At[i] (Unix ms) by the closet closets[By[i]] of the call. When several
// of the closets shared a listing at that instant, By is one of them.
type Shared struct {
	Listings []string
	At       []int64
	By       []int32
}

// Len is the number of listings.
func (s Shared) Len() int { return len(s.Listings) }

// Append adds listing l, last shared at ms by closet number by.
func (s *Shared) Append(l string, ms int64, by int32) {
	s.Listings, s.At, s.By = append(s.Listings, l), append(s.At, ms), append(s.By, by)
}

// Sorted is s newest first, ties by listing id, with each By the closet
// of closets it numbers (what a test compares, or a caller that wants an
// order).
func (s Shared) Sorted(closets []string) []ListingAt {
	out := make([]ListingAt, s.Len())
	for i, l := range s.Listings {
		out[i] = ListingAt{Listing: l, At: time.UnixMilli(s.At[i]).UTC(), By: closets[s.By[i]]}
	}
	slices.SortFunc(out, func(a, b ListingAt) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(a.Listing, b.Listing)
	})
	return out
}

// Engaged is a listing with its engagement score.
type Engaged struct {
	Listing string
	Score   float64
}

// Counters are a listing's popularity counters as DESIGN.md defines them:
// the number of its likes rows, the number of its shares rows and the
// latest created_at of its shares (zero when it has none). The indexer
// derives them from the store and writes them to the search backend
// (migration 0004 dropped the triggers that kept them on the listing row).
type Counters struct {
	Likes, Shares int64
	LastSharedAt  time.Time
}

// UserAt is a user's latest engagement with a listing.
type UserAt struct {
	User string
	At   time.Time
}

// Reader is the read side of a store: what the discovery layer asks. Every
// call that takes an instant at answers as of that instant (events after it
// are not seen), so that a walk through pages sees one state. Instants are
// kept to the millisecond (the feed cursors' unit). Shares, likes
// and follows of listings, closets or parties the store has not seen are
// kept and answered like any other: rows arrive on different topics in any
// order and are joined at read time.
type Reader interface {
	// Sellers returns what the store knows of each id (absent ones are
	// missing from the map).
	Sellers(ctx context.Context, ids []string) (map[string]Seller, error)
	// Suspended returns every suspended seller (a small set).
	Suspended(ctx context.Context) ([]string, error)
	// Blocked returns the closets user blocked.
	Blocked(ctx context.Context, user string) ([]string, error)

	// Following returns the closets user follows, most recently followed
	// first, at most limit (0: all): those followed at or before at (a
	// walk through a following feed's pages keeps the closets of its
	// first page's instant), all of them for the zero at. An unfollow
	// takes effect at once (a store keeps no time of it).
	Following(ctx context.Context, user string, at time.Time, limit int) ([]string, error)
	// Followers returns how many users follow each closet.
	Followers(ctx context.Context, closets []string) (map[string]int, error)

	// SharedBy merges the share timelines of closets: each listing once, at
	// its latest share by any of them in (since, at], By that closet,
	// newest first, the listings of one instant in no particular order (the
	// feed orders its candidates itself; ordering every instant's listings
	// by id, tens of thousands of them, was most of a following feed's
	// cost). With limit > 0 only the latest limit listings are kept (at the
	// cut, ties by listing id). It costs no fan-out on write: a closet with
	// 100k followers writes one timeline entry per share.
	SharedBy(ctx context.Context, closets []string, since, at time.Time, limit int) (Shared, error)
	// Activity returns user's own likes and shares, newest first (ties by
	// listing id; each listing once, at its latest), in (since, at], at most
	// limit: the input of their affinity profile.
	Activity(ctx context.Context, user string, since, at time.Time, limit int) ([]ListingAt, error)

	// Parties returns every party the store holds, by starts_at then id.
	Parties(ctx context.Context) ([]Party, error)
	// Party returns one party, or ErrNotFound.
	Party(ctx context.Context, id string) (*Party, error)
	// PartyShares returns the listings shared into party with a share time
	// in [from, to), each once at its latest such share, newest first (ties
	// by listing id), and the number of those shares. The party cursor
	// passes the first page's instant as to, so paging a live party never
	// repeats or skips a listing however many shares arrive. The answer is
	// read-only: a store may share it between calls.
	PartyShares(ctx context.Context, party string, from, to time.Time) ([]ListingAt, int, error)

	// TopEngaged returns at most k listings by a decayed count of the
	// distinct users who liked or shared them in (since, at]: each user
	// counts 2^(-(at-t)/halfLife) for their latest engagement t. Highest
	// score first, ties by listing id.
	TopEngaged(ctx context.Context, since, at time.Time, halfLife time.Duration, k int) ([]Engaged, error)
	// Engagers returns, for each listing, its users' latest likes and
	// shares in (since, at] (so that a listing's own seller can be left
	// out of its trending score).
	Engagers(ctx context.Context, listings []string, since, at time.Time) (map[string][]UserAt, error)

	// Counters returns the present counters of each listing, every one
	// asked for included (zero counters for a listing without likes or
	// shares, or one the store never saw): absolute values, so that
	// writing them again is harmless.
	Counters(ctx context.Context, listings []string) (map[string]Counters, error)
}

// Store is a whole signals store: what cmd wires and the conformance suite
// runs against. Implementations are safe for concurrent use.
type Store interface {
	Reader
	Writer
	Close() error
}

// Forgetter is a store that can forget a user (rummage users forget): it
// deletes the user's follows, likes, shares and blocks it holds, as deletes
// at each row's own version, applied and logged like the stream's, and
// returns how many rows it deleted. The rows stay deleted unless the
// stream brings a newer version of them: the marketplace deletes them from
// its own tables too (the source of the CDC), or a rebuild from the stream
// brings them back.
type Forgetter interface {
	Forget(ctx context.Context, user string) (int, error)
}
