// Package rummage holds the canonical listing document shared by every part of
// Rummage: the JSONL import format, the index document and the API hit use the
// same field names (see docs/architecture.md).
//
// It must not import any other Rummage package; everything else imports it.
package rummage
