// Package changetest builds change events for tests of the packages that
// carry them (kafkabus, the indexer, the backends' end-to-end tests), shaped
// as pgcdc writes them.
//
// Only tests import it. It imports indexer/change and the standard library
// only.
package changetest

import (
	"encoding/json"
	"fmt"

	"github.com/rummage/rummage/indexer/change"
)

// Event is op on the row of public.<table> whose primary key is id, as
// pgcdc writes it under topic prefix at commit LSN lsn: keyed {"id":id},
// with row (a JSON object) in After, or in Before for a delete. TsMs is 1.
func Event(op change.Op, prefix, table, id string, lsn uint64, row string) change.Event {
	e := change.Event{Op: op, TsMs: 1, Key: json.RawMessage(fmt.Sprintf(`{"id":%q}`, id)),
		Source: change.Source{Version: "rummage", Connector: "postgresql", Name: prefix, Schema: "public", Table: table, LSN: lsn}}
	if op == change.OpDelete {
		e.Before = json.RawMessage(row)
	} else {
		e.After = json.RawMessage(row)
	}
	return e
}
