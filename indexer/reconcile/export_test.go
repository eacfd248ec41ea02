package reconcile

// FirstDiff is firstDiff, for the crash test's feed comparisons.
var FirstDiff = firstDiff
