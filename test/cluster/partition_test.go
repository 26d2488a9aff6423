package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// netns is a network namespace joined to the test's own by a veth pair:
// host is the address on the test's side, peer the one inside.
type netns struct {
	name, hostIf, host, peer string
}

// ip runs ip(8) with args.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetns makes a namespace and a veth pair with addresses in
// 10.231.0.0/16, a private range used only between the two ends, and
// removes them at the end of the test. It skips the test where the
// machine does not allow it.
func newNetns(t *testing.T) *netns {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("partition test needs ip(8) (iproute2), not found: " + err.Error())
	}
	var b [3]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ns := &netns{name: "mast-part-" + id, hostIf: "mh" + id}
	if err := ip("netns", "add", ns.name); err != nil {
		t.Skipf("partition test needs network namespaces (root, or CAP_SYS_ADMIN and CAP_NET_ADMIN, and a kernel that allows them): %v", err)
	}
	t.Cleanup(func() {
		if err := ip("netns", "del", ns.name); err != nil {
			t.Errorf("removing the namespace: %v", err)
		}
	})
	if err := ip("netns", "exec", ns.name, "true"); err != nil {
		t.Skipf("partition test needs to run programs in a network namespace (ip netns exec): %v", err)
	}
	// A /24 of 10.231.0.0/16 that no interface of this namespace uses.
	used, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	var subnet string
	for range 20 {
		n, _ := rand.Int(rand.Reader, big.NewInt(256))
		s := fmt.Sprintf("10.231.%d.", n.Int64())
		if !strings.Contains(string(used), s) {
			subnet = s
			break
		}
	}
	if subnet == "" {
		t.Skip("no free /24 in 10.231.0.0/16")
	}
	ns.host, ns.peer = subnet+"1", subnet+"2"
	peerIf := "mp" + id
	steps := [][]string{
		{"link", "add", ns.hostIf, "type", "veth", "peer", "name", peerIf},
		{"link", "set", peerIf, "netns", ns.name},
		{"addr", "add", ns.host + "/24", "dev", ns.hostIf},
		{"link", "set", ns.hostIf, "up"},
		{"-n", ns.name, "addr", "add", ns.peer + "/24", "dev", peerIf},
		{"-n", ns.name, "link", "set", peerIf, "up"},
		{"-n", ns.name, "link", "set", "lo", "up"}, // the embedded NATS server's client port is on 127.0.0.1
	}
	for i, s := range steps {
		if err := ip(s...); err != nil {
			if i == 0 {
				t.Skipf("partition test needs veth pairs: %v", err)
			}
			t.Fatal(err)
		}
		if i == 0 {
			t.Cleanup(func() { ip("link", "del", ns.hostIf) }) // takes the peer with it
		}
	}
	return ns
}

// TestPartition puts node 3 in its own network namespace, reachable over
// a veth pair only, cuts the link, checks that nodes 1 and 2 keep
// exchanging messages, heals the link and checks that node 3 is back.
func TestPartition(t *testing.T) {
	ns := newNetns(t)
	nodes := startCluster(t,
		// Debug level: NATS's notices about its routes.
		nodeSpec{clusterHost: ns.host, extra: "log: {level: debug}\n"},
		nodeSpec{clusterHost: ns.host},
		// MQTT clients reach node 3 over the veth too; beyond loopback a
		// listener needs anonymous access said explicitly.
		nodeSpec{mqttHost: ns.peer, clusterHost: ns.peer, netns: ns.name, extra: "auth: {allow_anonymous: true}\n"},
	)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	in2, in3 := newInbox("pt-sub@node2"), newInbox("pt-sub@node3")
	s2, _ := dial(t, clientOpts("pt-sub2", packet.Version5, in2, n2.mqtt))
	subscribe(t, s2, 0, "pt/#")
	s3, _ := dial(t, clientOpts("pt-sub3", packet.Version311, in3, n3.mqtt))
	subscribe(t, s3, 0, "pt/#")
	p, _ := dial(t, clientOpts("pt-pub", packet.Version5, nil, n1.mqtt))
	awaitRoute(t, p, "pt/probe", in2, in3)

	// QoS 0 from node 1 to nodes 2 and 3, all there.
	send := func(l *ledger, stream string, count int) time.Duration {
		start := time.Now()
		pump(context.Background(), p, l, stream, "pt/"+stream, 0, 1, count, 500*time.Microsecond)
		return time.Since(start)
	}
	l := newLedger()
	took := send(l, "before", 500)
	until(10*time.Second, func() bool { return delivered(l, []string{"before"}, in2, in3) })
	t.Logf("before the partition: 500 QoS 0 messages sent in %v (%.0f/s)", took.Round(time.Millisecond), 500/took.Seconds())
	report(t, l, in2, "before", true)
	report(t, l, in3, "before", true)

	// Cut node 3 off.
	if err := ip("link", "set", ns.hostIf, "down"); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	heal := sync.OnceFunc(func() {
		if err := ip("link", "set", ns.hostIf, "up"); err != nil {
			t.Error(err)
		}
	})
	defer heal()

	// Nodes 1 and 2 keep talking while node 1's route to node 3 does not
	// drain: 4 KiB messages that nodes 2 and 3 both want, until node 1's
	// NATS server notices the stalled route (a write deadline, 10s by
	// default) and 500 more after that.
	ctx, stopPump := context.WithCancel(context.Background())
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		pumpPadded(ctx, p, l, "during", "pt/during", 0, 1, 0, 2*time.Millisecond, 4096)
	}()
	const notice = "Slow Consumer Detected"
	if until(20*time.Second, func() bool { return n1.logContains(notice) }) {
		t.Logf("node 1 noticed the stalled route to node 3 after %v (%q)", time.Since(cutAt).Round(time.Millisecond), notice)
	} else {
		t.Logf("node 1 did not log %q within 20s of the cut", notice)
	}
	base := l.ackedCount("during")
	until(10*time.Second, func() bool { return l.ackedCount("during") >= base+500 })
	stopPump()
	<-pumped
	took = time.Since(cutAt)
	if !until(10*time.Second, func() bool { return delivered(l, []string{"during"}, in2) }) {
		t.Errorf("QoS 0 from node 1 to node 2 stalled during the partition")
	}
	in2.mu.Lock()
	gap := in2.maxGap["during"]
	in2.mu.Unlock()
	t.Logf("during the partition: %d messages of 4 KiB sent in %v (%.0f/s); longest wait between two of them at node 2: %v",
		l.ackedCount("during"), took.Round(time.Millisecond), float64(l.ackedCount("during"))/took.Seconds(), gap.Round(time.Millisecond))
	report(t, l, in2, "during", true)
	// A new client on node 2 during the partition.
	inNew := newInbox("pt-new@node2")
	connStart := time.Now()
	sn, err := client.New(clientOpts("pt-new", packet.Version311, inNew, n2.mqtt))
	if err != nil {
		t.Fatal(err)
	}
	var cerr error
	if !untilEvery(30*time.Second, 100*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, cerr = sn.Connect(ctx)
		return cerr == nil
	}) {
		t.Fatalf("during the partition, a new client could not connect to node 2 for 30s: %v", cerr)
	}
	t.Cleanup(func() { disconnect(sn) })
	t.Logf("during the partition, a new clean-session client connected to node 2 in %v", time.Since(connStart).Round(time.Millisecond))
	subscribe(t, sn, 0, "pt2/#")
	awaitRoute(t, p, "pt2/probe", inNew)
	l2 := newLedger()
	pump(context.Background(), p, l2, "pt2", "pt2/x", 0, 1, 100, time.Millisecond)
	until(10*time.Second, func() bool { return delivered(l2, []string{"pt2"}, inNew) })
	report(t, l2, inNew, "pt2", true)
	partitioned := time.Since(cutAt)

	// Heal: node 3 is back in the mesh, and a new subscriber on it gets
	// node 1's messages.
	heal()
	healedAt := time.Now()
	waitMesh(t, nodes...)
	in3b := newInbox("pt-sub@node3-after")
	s3b, _ := dial(t, clientOpts("pt-sub3b", packet.Version5, in3b, n3.mqtt))
	subscribe(t, s3b, 0, "pt/#")
	awaitRoute(t, p, "pt/probe-after", in3b)
	rejoin := time.Since(healedAt)
	send(l, "after", 500)
	until(10*time.Second, func() bool { return delivered(l, []string{"after"}, in2, in3b) })
	report(t, l, in2, "after", true)
	report(t, l, in3b, "after", true)
	t.Logf("partition lasted %v; node 3 reachable again %v after healing; the subscriber connected before the cut got %d of the %d messages sent after healing, and %d of the %d sent during the partition",
		partitioned.Round(time.Millisecond), rejoin.Round(time.Millisecond), in3.count("after"), 500, in3.count("during"), l.ackedCount("during"))
}
