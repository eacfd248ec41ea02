package elastic

import "testing"

// OpenCluster is openCluster for the external tests (package elastic_test):
// a backend on a fresh index prefix of the cluster at ELASTICSEARCH_URL,
// whose indices and template are deleted when the test ends.
func OpenCluster(t *testing.T) *Backend { return openCluster(t) }
