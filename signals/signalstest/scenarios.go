package signalstest

import (
	"math"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

var (
	zero  time.Time // since: from the beginning
	theme = signals.Theme{Query: "denim", Filters: query.Filters{Brands: []string{"Levi's"}, Category: []string{"Women", "Jeans"}}}
	price = int64(5000)
	other = signals.Theme{Filters: query.Filters{Sizes: []string{"M"}, PriceMax: &price}}
)

func seller(id, status string) signals.Seller { return *Seller(0, id, status).Seller }

func partyRow(id, name string, starts, ends time.Time, th signals.Theme) *signals.Party {
	return Party(0, id, name, starts, ends, th).Party
}

// scenarios are the suite's cases: batches and the answers that follow.
func scenarios() []scenario {
	return []scenario{
		{"forget: a user's follows, blocks, likes and shares go, others' stay", []step{
			apply{Follow(2, "u1", "c1", M(1)), Follow(3, "u1", "c2", M(2)), Block(4, "u1", "c3", M(3)),
				Like(5, "u1", "l1", M(4)), Share(6, 7, "u1", "l2", "p1", M(5)), Share(7, 8, "u1", "l3", "", M(6)),
				Like(8, "u2", "l1", M(7)), Share(9, 9, "u2", "l2", "p1", M(8)), Follow(10, "u2", "c1", M(9))},
			forget{"u1", 6},
			following{"u1", zero, 0, nil},
			blocked{"u1", nil},
			activity{"u1", zero, M(60), 10, nil},
			followers{[]string{"c1", "c2"}, map[string]int{"c1": 1, "c2": 0}},
			counters{[]string{"l1", "l2", "l3"}, map[string]signals.Counters{"l1": {Likes: 1}, "l2": {Shares: 1, LastSharedAt: M(8)}}},
			partyShares{"p1", zero, M(60), []LA{{Listing: "l2", At: M(8)}}, 1},
			activity{"u2", zero, M(60), 10, []LA{{Listing: "l2", At: M(8)}, {Listing: "l1", At: M(7)}}},
			forget{"u1", 0},
			forget{"nobody", 0},
		}},
		{"following as of an instant: later follows are not counted, unfollows are at once", []step{
			apply{Follow(2, "u1", "c1", M(1)), Follow(3, "u1", "c2", M(2)), Follow(4, "u1", "c3", M(5))},
			following{"u1", M(3), 0, []string{"c2", "c1"}},
			following{"u1", M(5), 0, []string{"c3", "c2", "c1"}},
			following{"u1", M(1), 0, []string{"c1"}},
			following{"u1", M(0), 0, nil},
			following{"u1", zero, 2, []string{"c3", "c2"}},
			apply{Del(5, Follow(0, "u1", "c2", M(2)))},
			following{"u1", M(3), 0, []string{"c1"}},
		}},
		{"version rule: a stale change is ignored, an equal one applies", []step{
			apply{Follow(2, "u1", "c1", M(10)), Follow(2, "u1", "c2", M(20))},
			following{"u1", zero, 0, []string{"c2", "c1"}},
			apply{Follow(1, "u1", "c1", M(30))}, // stale: older than the held version
			following{"u1", zero, 0, []string{"c2", "c1"}},
			apply{Follow(2, "u1", "c1", M(30))}, // equal: applies
			following{"u1", zero, 0, []string{"c1", "c2"}},
			followers{[]string{"c1", "c2"}, map[string]int{"c1": 1, "c2": 1}},

			apply{Share(5, 1, "u1", "l1", "", M(10))},
			apply{Share(4, 1, "u1", "l2", "", M(11))}, // stale update of share 1
			activity{"u1", zero, M(60), 10, []LA{{Listing: "l1", At: M(10)}}},
			apply{Share(5, 1, "u1", "l2", "", M(11))}, // equal update: share 1 is now of l2
			activity{"u1", zero, M(60), 10, []LA{{Listing: "l2", At: M(11)}}},
			sharedBy{[]string{"u1"}, zero, M(60), 10, []LA{{"l2", M(11), "u1"}}},

			apply{Seller(3, "c1", signals.SellerSuspended)},
			apply{Seller(2, "c1", signals.SellerActive)},
			suspended{"c1"},
			apply{Seller(3, "c1", signals.SellerActive)},
			suspended{},
			sellers{[]string{"c1"}, map[string]signals.Seller{"c1": seller("c1", signals.SellerActive)}},

			apply{Party(2, "p1", "Denim Days", M(0), M(120), theme)},
			apply{Party(1, "p1", "Stale Name", M(0), M(60), other)},
			party{"p1", partyRow("p1", "Denim Days", M(0), M(120), theme)},

			apply{Like(7, "u2", "l1", M(5))},
			apply{Like(6, "u2", "l1", M(50))}, // stale
			engagers{[]string{"l1"}, zero, M(60), map[string][]UA{"l1": {{"u2", M(5)}}}},

			apply{Block(3, "u1", "c9", M(1))},
			apply{Del(2, Block(0, "u1", "c9", M(1)))}, // stale delete
			blocked{"u1", []string{"c9"}},
		}},

		{"counters: likes and shares counted, the latest share's time, through updates, deletes, replays and truncates", []step{
			counters{[]string{"l1", "never"}, nil},
			apply{Like(1, "u1", "l1", M(1)), Like(1, "u2", "l1", M(2)), Like(1, "u1", "l2", M(3)),
				Share(2, 1, "u1", "l1", "p1", M(10)), Share(2, 2, "u2", "l1", "", M(30)), Share(2, 3, "u1", "l1", "p1", M(20))},
			counters{[]string{"l1", "l2", "never"}, map[string]signals.Counters{
				"l1": {Likes: 2, Shares: 3, LastSharedAt: M(30)}, "l2": {Likes: 1}}},
			// a replay, an update of a like: nothing counts twice
			apply{Like(1, "u1", "l1", M(1)), Like(3, "u2", "l1", M(40)), Share(2, 3, "u1", "l1", "p1", M(20))},
			counters{[]string{"l1"}, map[string]signals.Counters{"l1": {Likes: 2, Shares: 3, LastSharedAt: M(30)}}},
			// deleting the latest share falls back to the next; a share moved to another listing
			apply{Del(4, Share(0, 2, "u2", "l1", "", M(30))), Share(4, 1, "u1", "l2", "", M(50)), Del(4, Like(0, "u1", "l1", M(1)))},
			counters{[]string{"l1", "l2"}, map[string]signals.Counters{
				"l1": {Likes: 1, Shares: 1, LastSharedAt: M(20)}, "l2": {Likes: 1, Shares: 1, LastSharedAt: M(50)}}},
			apply{Del(0, Like(0, "u1", "l2", M(3)))}, // stale delete
			counters{[]string{"l2"}, map[string]signals.Counters{"l2": {Likes: 1, Shares: 1, LastSharedAt: M(50)}}},
			apply{Truncate(5, signals.TableShares)},
			counters{[]string{"l1", "l2"}, map[string]signals.Counters{"l1": {Likes: 1}, "l2": {Likes: 1}}},
			apply{Truncate(6, signals.TableLikes), Share(7, 9, "u3", "l2", "", M(60))},
			counters{[]string{"l1", "l2"}, map[string]signals.Counters{"l2": {Shares: 1, LastSharedAt: M(60)}}},
		}},

		{"version rule: within a batch the later change of a key wins", []step{
			apply{Follow(1, "u1", "c1", M(1)), Follow(1, "u1", "c2", M(2)), Follow(1, "u1", "c1", M(3)), Del(1, Follow(0, "u1", "c2", M(2)))},
			following{"u1", zero, 0, []string{"c1"}},
			followers{[]string{"c1", "c2"}, map[string]int{"c1": 1}},
			apply{Share(3, 9, "u1", "l1", "p", M(1)), Share(3, 9, "u1", "l2", "p", M(2))},
			partyShares{"p", M(0), M(60), []LA{{Listing: "l2", At: M(2)}}, 1},
		}},

		{"delete tombstones: a replayed insert does not resurrect the row", []step{
			apply{Follow(1, "u1", "c1", M(1)), Follow(1, "u2", "c1", M(1))},
			apply{Del(3, Follow(0, "u1", "c1", M(1)))},
			following{"u1", zero, 0, nil},
			followers{[]string{"c1"}, map[string]int{"c1": 1}},
			apply{Follow(2, "u1", "c1", M(1))}, // replayed insert, older than the delete
			apply{Follow(1, "u1", "c1", M(1))},
			following{"u1", zero, 0, nil},
			followers{[]string{"c1"}, map[string]int{"c1": 1}},
			apply{Follow(3, "u1", "c1", M(4))}, // equal to the delete: the stream's order decides
			following{"u1", zero, 0, []string{"c1"}},
			followers{[]string{"c1"}, map[string]int{"c1": 2}},
			apply{Del(5, Follow(0, "u1", "c1", M(4))), Del(5, Follow(0, "u2", "c1", M(1)))},
			followers{[]string{"c1"}, map[string]int{}},

			// A share deleted before its insert ever arrived.
			apply{Del(5, Share(0, 7, "u1", "l7", "p", M(10)))},
			apply{Share(4, 7, "u1", "l7", "p", M(10))},
			activity{"u1", zero, M(60), 10, nil},
			sharedBy{[]string{"u1"}, zero, M(60), 10, nil},
			partyShares{"p", M(0), M(60), nil, 0},
			topEngaged{zero, M(60), time.Hour, 10, nil},
			engagers{[]string{"l7"}, zero, M(60), nil},

			// A share deleted after it was applied.
			apply{Share(6, 8, "u1", "l8", "p", M(11)), Share(6, 10, "u2", "l8", "p", M(12))},
			apply{Del(7, Share(0, 10, "u2", "l8", "p", M(12)))},
			partyShares{"p", M(0), M(60), []LA{{Listing: "l8", At: M(11)}}, 1},
			apply{Share(6, 10, "u2", "l8", "p", M(12))},
			partyShares{"p", M(0), M(60), []LA{{Listing: "l8", At: M(11)}}, 1},
			engagers{[]string{"l8"}, zero, M(60), map[string][]UA{"l8": {{"u1", M(11)}}}},

			apply{Like(2, "u3", "l1", M(20))},
			apply{Del(3, Like(0, "u3", "l1", M(20)))},
			apply{Like(2, "u3", "l1", M(20))},
			activity{"u3", zero, M(60), 10, nil},
			engagers{[]string{"l1"}, zero, M(60), nil},
			apply{Like(4, "u3", "l1", M(30))}, // a new like after the unlike
			activity{"u3", zero, M(60), 10, []LA{{Listing: "l1", At: M(30)}}},

			apply{Block(1, "u1", "c1", M(1)), Block(1, "u1", "c2", M(1))},
			apply{Del(2, Block(0, "u1", "c1", M(1)))},
			apply{Block(1, "u1", "c1", M(1))},
			blocked{"u1", []string{"c2"}},

			apply{Seller(1, "c1", signals.SellerSuspended)},
			apply{Del(2, Seller(0, "c1", signals.SellerSuspended))},
			apply{Seller(1, "c1", signals.SellerSuspended)},
			suspended{},
			sellers{[]string{"c1"}, nil},

			apply{Party(1, "p", "Gone", M(0), M(60), theme), Party(1, "q", "Stays", M(0), M(60), theme)},
			apply{Del(2, Party(0, "p", "Gone", M(0), M(60), theme))},
			apply{Party(1, "p", "Gone", M(0), M(60), theme)},
			party{"p", nil},
			parties{*partyRow("q", "Stays", M(0), M(60), theme)},
		}},

		{"truncate removes the table's rows below its version", []step{
			apply{Follow(1, "u1", "c1", M(1)), Follow(2, "u1", "c2", M(2)), Follow(3, "u1", "c3", M(3))},
			apply{Like(1, "u1", "l1", M(1)), Share(1, 1, "u1", "l2", "p", M(2))},
			apply{Truncate(3, signals.TableFollows)},
			following{"u1", zero, 0, []string{"c3"}},
			followers{[]string{"c1", "c2", "c3"}, map[string]int{"c3": 1}},
			activity{"u1", zero, M(60), 10, []LA{{Listing: "l2", At: M(2)}, {Listing: "l1", At: M(1)}}},
			apply{Follow(2, "u1", "c4", M(4))}, // from before the truncate: stale
			following{"u1", zero, 0, []string{"c3"}},
			apply{Follow(4, "u1", "c4", M(4))},
			following{"u1", zero, 0, []string{"c4", "c3"}},

			apply{Truncate(5, signals.TableShares)},
			partyShares{"p", M(0), M(60), nil, 0},
			activity{"u1", zero, M(60), 10, []LA{{Listing: "l1", At: M(1)}}},
			apply{Truncate(5, signals.TableLikes)},
			activity{"u1", zero, M(60), 10, nil},
			topEngaged{zero, M(60), time.Hour, 10, nil},
			apply{Share(6, 2, "u1", "l3", "p", M(5))},
			partyShares{"p", M(0), M(60), []LA{{Listing: "l3", At: M(5)}}, 1},

			apply{Seller(1, "c1", signals.SellerSuspended), Party(1, "p", "P", M(0), M(60), theme), Block(1, "u1", "c1", M(1))},
			apply{Truncate(2, signals.TableSellers), Truncate(2, signals.TableParties), Truncate(2, signals.TableBlocks)},
			suspended{},
			sellers{[]string{"c1"}, nil},
			parties{},
			party{"p", nil},
			blocked{"u1", nil},
			following{"u1", zero, 0, []string{"c4", "c3"}},
		}},

		{"rows arrive before what they refer to and are joined at read", []step{
			apply{
				Share(1, 1, "u1", "l1", "p", M(15)), Share(2, 2, "u2", "l2", "p", M(16)),
				Follow(3, "u9", "c1", M(1)), Like(4, "u3", "l1", M(17)),
			},
			partyShares{"p", M(10), M(20), []LA{{Listing: "l2", At: M(16)}, {Listing: "l1", At: M(15)}}, 2},
			party{"p", nil},
			following{"u9", zero, 0, []string{"c1"}},
			followers{[]string{"c1"}, map[string]int{"c1": 1}},
			sellers{[]string{"c1"}, nil},
			engagers{[]string{"l1"}, zero, M(60), map[string][]UA{"l1": {{"u1", M(15)}, {"u3", M(17)}}}},
			apply{Party(5, "p", "Late Party", M(10), M(130), theme), Seller(6, "c1", signals.SellerActive)},
			party{"p", partyRow("p", "Late Party", M(10), M(130), theme)},
			partyShares{"p", M(10), M(20), []LA{{Listing: "l2", At: M(16)}, {Listing: "l1", At: M(15)}}, 2},
			sellers{[]string{"c1", "c2"}, map[string]signals.Seller{"c1": seller("c1", signals.SellerActive)}},
		}},

		{"party shares: the [from, to) window, each listing at its latest share", []step{
			apply{
				Share(1, 1, "u1", "l1", "p", M(5)), // before the window
				Share(1, 2, "u2", "l1", "p", M(12)),
				Share(1, 3, "u3", "l3", "p", M(15)),
				Share(1, 4, "u4", "l2", "p", M(15)), // a tie with l3: by listing id
				Share(1, 5, "u1", "l1", "p", M(20)),
				Share(1, 6, "u5", "l4", "p", M(30)), // at to: outside
				Share(1, 7, "u5", "l5", "p", M(31)),
				Share(1, 8, "u6", "l6", "q", M(16)), // another party
				Share(1, 9, "u6", "l7", "", M(17)),  // into no party
				Share(1, 10, "u7", "l9", "p", M(10)),
			},
			partyShares{"p", M(10), M(30), []LA{{Listing: "l1", At: M(20)}, {Listing: "l2", At: M(15)}, {Listing: "l3", At: M(15)}, {Listing: "l9", At: M(10)}}, 5},
			partyShares{"p", M(10), M(20), []LA{{Listing: "l2", At: M(15)}, {Listing: "l3", At: M(15)}, {Listing: "l1", At: M(12)}, {Listing: "l9", At: M(10)}}, 4},
			partyShares{"p", M(10), M(13), []LA{{Listing: "l1", At: M(12)}, {Listing: "l9", At: M(10)}}, 2},
			partyShares{"p", M(11), M(13), []LA{{Listing: "l1", At: M(12)}}, 1},
			partyShares{"p", M(0), M(60), []LA{{Listing: "l5", At: M(31)}, {Listing: "l4", At: M(30)}, {Listing: "l1", At: M(20)}, {Listing: "l2", At: M(15)}, {Listing: "l3", At: M(15)}, {Listing: "l9", At: M(10)}}, 8},
			partyShares{"p", M(20), M(20), nil, 0},
			partyShares{"q", M(0), M(60), []LA{{Listing: "l6", At: M(16)}}, 1},
			partyShares{"nope", M(0), M(60), nil, 0},
			// A share arriving late (a page walked at to = 30 never sees it)
			// and the party cursor's "latest share at or before t".
			apply{Share(2, 11, "u8", "l3", "p", M(40)), Share(2, 12, "u8", "l2", "p", M(25))},
			partyShares{"p", M(10), M(30), []LA{{Listing: "l2", At: M(25)}, {Listing: "l1", At: M(20)}, {Listing: "l3", At: M(15)}, {Listing: "l9", At: M(10)}}, 6},
			partyShares{"p", M(10), M(41), []LA{{Listing: "l3", At: M(40)}, {Listing: "l5", At: M(31)}, {Listing: "l4", At: M(30)}, {Listing: "l2", At: M(25)}, {Listing: "l1", At: M(20)}, {Listing: "l9", At: M(10)}}, 9},
			// Millisecond instants: to is exclusive to the millisecond.
			apply{Share(3, 13, "u9", "l8", "p", M(50).Add(7*time.Millisecond))},
			partyShares{"p", M(50), M(50).Add(7 * time.Millisecond), nil, 0},
			partyShares{"p", M(50), M(50).Add(8 * time.Millisecond), []LA{{Listing: "l8", At: M(50).Add(7 * time.Millisecond)}}, 1},
			// Deleting a listing's latest share brings back its previous one.
			apply{Del(4, Share(0, 11, "u8", "l3", "p", M(40)))},
			partyShares{"p", M(10), M(41), []LA{{Listing: "l5", At: M(31)}, {Listing: "l4", At: M(30)}, {Listing: "l2", At: M(25)}, {Listing: "l1", At: M(20)}, {Listing: "l3", At: M(15)}, {Listing: "l9", At: M(10)}}, 8},
		}},

		{"shared by: closets' timelines merged, each listing at its latest share", []step{
			apply{
				Share(1, 1, "c1", "l1", "", M(10)),
				Share(1, 2, "c2", "l1", "", M(20)), // l1's latest by c1 or c2
				Share(1, 3, "c1", "l2", "", M(5)),
				Share(1, 4, "c1", "l2", "", M(15)),
				Share(1, 5, "c3", "l3", "", M(25)),  // not a followed closet
				Share(1, 6, "c2", "l4", "p", M(30)), // into a party: still c2's share
				Share(1, 7, "c1", "l0", "", M(30)),  // a tie with l4: by listing id
				Share(1, 8, "c1", "l5", "", M(40)),  // after at
				Like(1, "c1", "l6", M(22)),          // a like is not a share
				Share(1, 9, "c3", "l2", "", M(33)),  // l2's latest share, by a closet not asked
			},
			sharedBy{[]string{"c1", "c2"}, zero, M(35), 10, []LA{{"l0", M(30), "c1"}, {"l4", M(30), "c2"}, {"l1", M(20), "c2"}, {"l2", M(15), "c1"}}},
			sharedBy{[]string{"c2", "c1"}, zero, M(35), 10, []LA{{"l0", M(30), "c1"}, {"l4", M(30), "c2"}, {"l1", M(20), "c2"}, {"l2", M(15), "c1"}}},
			sharedBy{[]string{"c1", "c2"}, zero, M(35), 3, []LA{{"l0", M(30), "c1"}, {"l4", M(30), "c2"}, {"l1", M(20), "c2"}}},
			sharedBy{[]string{"c2", "c1"}, zero, M(35), 1, []LA{{"l0", M(30), "c1"}}}, // the cut splits a tie: by listing id
			sharedBy{[]string{"c1", "c2"}, M(15), M(35), 10, []LA{{"l0", M(30), "c1"}, {"l4", M(30), "c2"}, {"l1", M(20), "c2"}}},
			sharedBy{[]string{"c1", "c2"}, zero, M(18), 10, []LA{{"l2", M(15), "c1"}, {"l1", M(10), "c1"}}},
			sharedBy{[]string{"c1", "c2"}, zero, M(20), 10, []LA{{"l1", M(20), "c2"}, {"l2", M(15), "c1"}}},
			sharedBy{[]string{"c1", "c2", "c3"}, zero, M(60), 10, []LA{{"l5", M(40), "c1"}, {"l2", M(33), "c3"}, {"l0", M(30), "c1"}, {"l4", M(30), "c2"}, {"l3", M(25), "c3"}, {"l1", M(20), "c2"}}},
			sharedBy{[]string{"c2"}, zero, M(60), 10, []LA{{"l4", M(30), "c2"}, {"l1", M(20), "c2"}}},
			sharedBy{[]string{"nobody"}, zero, M(60), 10, nil},
			sharedBy{nil, zero, M(60), 10, nil},
			apply{Del(2, Share(0, 2, "c2", "l1", "", M(20)))},
			sharedBy{[]string{"c1", "c2"}, zero, M(35), 10, []LA{{"l0", M(30), "c1"}, {"l4", M(30), "c2"}, {"l2", M(15), "c1"}, {"l1", M(10), "c1"}}},
		}},

		{"activity: a user's likes and shares, each listing at its latest", []step{
			apply{
				Like(1, "u1", "l1", M(10)),
				Share(1, 1, "u1", "l2", "", M(12)),
				Share(1, 2, "u1", "l1", "p", M(20)),
				Like(1, "u1", "l3", M(25)),
				Share(1, 3, "u1", "l4", "", M(40)),
				Like(1, "u2", "l9", M(26)),
				Share(1, 4, "u2", "l8", "", M(27)),
			},
			activity{"u1", zero, M(30), 10, []LA{{Listing: "l3", At: M(25)}, {Listing: "l1", At: M(20)}, {Listing: "l2", At: M(12)}}},
			activity{"u1", M(12), M(30), 10, []LA{{Listing: "l3", At: M(25)}, {Listing: "l1", At: M(20)}}},
			activity{"u1", zero, M(30), 1, []LA{{Listing: "l3", At: M(25)}}},
			activity{"u1", zero, M(15), 10, []LA{{Listing: "l2", At: M(12)}, {Listing: "l1", At: M(10)}}},
			activity{"u1", M(20), M(30), 10, []LA{{Listing: "l3", At: M(25)}}},
			activity{"u1", zero, M(60), 10, []LA{{Listing: "l4", At: M(40)}, {Listing: "l3", At: M(25)}, {Listing: "l1", At: M(20)}, {Listing: "l2", At: M(12)}}},
			activity{"u2", zero, M(60), 10, []LA{{Listing: "l8", At: M(27)}, {Listing: "l9", At: M(26)}}},
			apply{Share(2, 5, "u2", "l7", "", M(26)), Like(2, "u2", "l6", M(26))}, // a tie with l9
			activity{"u2", zero, M(60), 2, []LA{{Listing: "l8", At: M(27)}, {Listing: "l6", At: M(26)}}},
			activity{"u2", zero, M(26), 3, []LA{{Listing: "l6", At: M(26)}, {Listing: "l7", At: M(26)}, {Listing: "l9", At: M(26)}}},
			activity{"nobody", zero, M(60), 10, nil},
			apply{Del(2, Like(0, "u1", "l3", M(25)))},
			activity{"u1", zero, M(30), 10, []LA{{Listing: "l1", At: M(20)}, {Listing: "l2", At: M(12)}}},
		}},

		{"following: most recently followed first, limit; followers counts", []step{
			apply{
				Follow(1, "u1", "c1", M(10)), Follow(1, "u1", "c2", M(30)), Follow(1, "u1", "c3", M(20)), Follow(1, "u1", "c4", M(40)),
				Follow(1, "u2", "c1", M(1)), Follow(1, "u3", "c1", M(2)), Follow(1, "u2", "c4", M(3)),
			},
			following{"u1", zero, 0, []string{"c4", "c2", "c3", "c1"}},
			following{"u1", zero, 2, []string{"c4", "c2"}},
			following{"u1", zero, 10, []string{"c4", "c2", "c3", "c1"}},
			following{"u2", zero, 0, []string{"c4", "c1"}},
			following{"nobody", zero, 0, nil},
			followers{[]string{"c1", "c2", "c4", "c9"}, map[string]int{"c1": 3, "c2": 1, "c4": 2}},
			followers{nil, nil},
			apply{Del(2, Follow(0, "u1", "c2", M(30)))},
			following{"u1", zero, 0, []string{"c4", "c3", "c1"}},
			followers{[]string{"c2"}, nil},
			apply{Follow(3, "u1", "c2", M(50))},
			following{"u1", zero, 0, []string{"c2", "c4", "c3", "c1"}},
			following{"u1", zero, 1, []string{"c2"}},
			followers{[]string{"c2", "c1"}, map[string]int{"c1": 3, "c2": 1}},
		}},

		{"sellers, suspended and blocked", []step{
			apply{
				Seller(1, "c1", signals.SellerActive), Seller(1, "c2", signals.SellerSuspended), Seller(1, "c3", signals.SellerSuspended),
				Block(1, "u1", "c1", M(1)), Block(1, "u1", "c2", M(2)), Block(1, "u2", "c3", M(3)),
			},
			suspended{"c2", "c3"},
			sellers{[]string{"c1", "c2", "cx"}, map[string]signals.Seller{"c1": seller("c1", signals.SellerActive), "c2": seller("c2", signals.SellerSuspended)}},
			sellers{nil, nil},
			blocked{"u1", []string{"c1", "c2"}},
			blocked{"u2", []string{"c3"}},
			blocked{"u3", nil},
			apply{Seller(2, "c3", signals.SellerActive), Del(2, Block(0, "u1", "c1", M(1)))},
			suspended{"c2"},
			blocked{"u1", []string{"c2"}},
			apply{Edited(Seller(3, "c1", signals.SellerActive), func(s *signals.Seller) { s.DisplayName = "Renamed" })},
			sellers{[]string{"c1"}, map[string]signals.Seller{"c1": {ID: "c1", Username: "u_c1", DisplayName: "Renamed", Status: signals.SellerActive}}},
		}},

		{"parties: order, edits, deletes", []step{
			apply{
				Party(1, "p2", "Two", M(10), M(130), theme),
				Party(1, "p1", "One", M(10), M(130), other),
				Party(1, "p0", "Zero", M(5), M(125), signals.Theme{}),
			},
			parties{*partyRow("p0", "Zero", M(5), M(125), signals.Theme{}), *partyRow("p1", "One", M(10), M(130), other), *partyRow("p2", "Two", M(10), M(130), theme)},
			party{"p1", partyRow("p1", "One", M(10), M(130), other)},
			party{"nope", nil},
			apply{Party(2, "p0", "Zero Moved", M(20), M(140), theme)}, // edited mid-window
			parties{*partyRow("p1", "One", M(10), M(130), other), *partyRow("p2", "Two", M(10), M(130), theme), *partyRow("p0", "Zero Moved", M(20), M(140), theme)},
			party{"p0", partyRow("p0", "Zero Moved", M(20), M(140), theme)},
			apply{Del(2, Party(0, "p1", "One", M(10), M(130), other))},
			party{"p1", nil},
			parties{*partyRow("p2", "Two", M(10), M(130), theme), *partyRow("p0", "Zero Moved", M(20), M(140), theme)},
		}},

		{"top engaged: decayed distinct users, each at their latest engagement", []step{
			apply{
				Share(1, 1, "u1", "l1", "", M(30)),
				Like(1, "u2", "l1", M(60)),
				Share(1, 2, "u1", "l1", "p", M(120)), // u1's latest on l1: counts once
				Like(1, "u3", "l2", M(120)), Like(1, "u4", "l2", M(120)),
				Like(1, "u0", "l2", M(0)), // at since: outside (since, at]
				Share(1, 3, "u6", "l3", "", M(111)), Share(1, 4, "u6", "l3", "", M(115)), Share(1, 5, "u6", "l3", "p", M(120)),
				Like(1, "u6", "l3", M(119)),
				Like(1, "u7", "l5", M(120)), Share(1, 6, "u8", "l4", "", M(120)),
				Like(1, "u9", "l6", M(200)), // after at
			},
			topEngaged{zero, M(120), time.Hour, 10, []E{{"l2", 2.25}, {"l1", 1.5}, {"l3", 1}, {"l4", 1}, {"l5", 1}}},
			topEngaged{M(0), M(120), time.Hour, 10, []E{{"l2", 2}, {"l1", 1.5}, {"l3", 1}, {"l4", 1}, {"l5", 1}}},
			topEngaged{M(0), M(120), time.Hour, 2, []E{{"l2", 2}, {"l1", 1.5}}},
			topEngaged{M(0), M(60), time.Hour, 10, []E{{"l1", 1 + math.Pow(2, -0.5)}}},
			topEngaged{M(60), M(120), time.Hour, 10, []E{{"l2", 2}, {"l1", 1}, {"l3", 1}, {"l4", 1}, {"l5", 1}}},
			topEngaged{M(0), M(120), 30 * time.Minute, 3, []E{{"l2", 2}, {"l1", 1.25}, {"l3", 1}}},
			topEngaged{M(0), M(240), time.Hour, 2, []E{{"l6", math.Pow(2, -2.0/3)}, {"l2", 0.5}}},
			engagers{[]string{"l1", "l2", "l3", "l9"}, M(0), M(120), map[string][]UA{
				"l1": {{"u1", M(120)}, {"u2", M(60)}},
				"l2": {{"u3", M(120)}, {"u4", M(120)}},
				"l3": {{"u6", M(120)}},
			}},
			engagers{[]string{"l1", "l3"}, M(0), M(60), map[string][]UA{"l1": {{"u1", M(30)}, {"u2", M(60)}}}},
			engagers{[]string{"l3", "l6"}, M(0), M(118), map[string][]UA{"l3": {{"u6", M(115)}}}},
			engagers{nil, M(0), M(118), nil},
			apply{Del(2, Like(0, "u3", "l2", M(120))), Del(2, Like(0, "u4", "l2", M(120)))},
			topEngaged{M(0), M(120), time.Hour, 2, []E{{"l1", 1.5}, {"l3", 1}}},
		}},
	}
}

// Edited is c with its seller row edited by f.
func Edited(c signals.Change, f func(*signals.Seller)) signals.Change {
	s := *c.Seller
	f(&s)
	c.Seller = &s
	return c
}
