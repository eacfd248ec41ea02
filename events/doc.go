// Package events owns Rummage's analytics events: the event vocabulary
// (Event, its types and validation), the pseudonymization of user ids
// before anything leaves the API, and the Kafka topic they travel on
// (<prefix>.events). The sink that writes accepted events, the rollup
// consumer and the analytics queries build on it.
//
// Likes, shares, follows and sales are counted from the CDC only: a
// like, share or purchase event is an attribution record (which query
// and position led to it), never a change of signals.
//
// events must not import the API, the query backends or the signals
// stores; they import it.
package events
