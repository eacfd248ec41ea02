// Package web serves Rummage's browser faces: the shopper app at / (its
// client-side routes included) and the operator dashboard at /admin. Both
// are embedded with go:embed — their pages as written (app/src/*.html, one
// file each) and the built bundle committed under dist/ (hashed scripts and
// styles, and pages.json, which names those each page loads) — so the
// binary serves them with no npm step on the run path; the sources and the
// lock file that build the bundle are in app/ (npm ci && npm run build),
// and CI fails when the committed bundle differs from a fresh build.
//
// The pages are clients of the public v1 API like any other: web imports
// nothing of Rummage's, and must not (package api mounts it).
package web
