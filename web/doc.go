// Package web serves Rummage's browser faces: the shopper app at / (its
// client-side routes included) and the operator dashboard at /admin. Both
// are a built bundle committed under dist/ and embedded with go:embed, so
// the binary serves them with no npm step on the run path; the sources and
// the lock file that build it are in app/ (npm ci && npm run build), and CI
// fails when the committed bundle differs from a fresh build.
//
// The pages are clients of the public v1 API like any other: web imports
// nothing of Rummage's, and must not (package api mounts it).
package web
