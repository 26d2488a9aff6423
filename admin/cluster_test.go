package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/cluster"
)

func TestCluster(t *testing.T) {
	e := start(t, admin.Options{})
	// do checks that an error answer is {"error": ...}.
	if code := e.do("GET", "/api/v1/cluster", nil, nil); code != 404 {
		t.Errorf("not clustered: %d, want 404", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := cluster.Start(ctx, cluster.Options{NodeName: "n1", ClusterListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	e = start(t, admin.Options{Token: "t", Cluster: func() any { return node.Status() }})
	var st cluster.Status
	if code := e.do("GET", "/api/v1/cluster", nil, &st); code != 200 {
		t.Fatalf("GET /api/v1/cluster: %d", code)
	}
	if st.Node != "n1" || st.Cluster != "mast" || st.Address != node.ClusterAddr() ||
		len(st.Members) != 1 || !st.Members[0].Self || st.JetStream.Enabled || st.JetStream.Streams == nil {
		t.Errorf("status %+v", st)
	}
	e.token = ""
	if code := e.do("GET", "/api/v1/cluster", nil, nil); code != 401 {
		t.Errorf("without the token: %d", code)
	}
}
