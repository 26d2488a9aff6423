package ops_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mastmq/mast/packet"
)

// mountTmpfs mounts a tmpfs of the given size for the test, or skips the
// test where mounting is not allowed (not root, no CAP_SYS_ADMIN).
// store/pebble's TestFullDiskInjected covers a full disk there.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %s tmpfs here (%v: %s): this test needs root or CAP_SYS_ADMIN",
			size, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// startOnDisk runs mast with its data directory on mnt, the admin HTTP
// listener on httpAddr for /metrics, and $SYS off.
func startOnDisk(t *testing.T, mnt, addr, httpAddr string) *proc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "mast.yaml")
	writeFile(t, cfg, "sys_interval: 0\n")
	p := startMast(t, "-c", cfg, "--listen", addr, "--data-dir", filepath.Join(mnt, "data"), "--http", httpAddr)
	p.waitLog(0, "http on")
	return p
}

// storeFailures reads mast_store_failures_total from /metrics.
func storeFailures(t *testing.T, httpAddr string) int {
	t.Helper()
	code, body := httpDo(t, "GET", "http://"+httpAddr+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	m := regexp.MustCompile(`(?m)^mast_store_failures_total (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no mast_store_failures_total in /metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func withExpiry(expiry uint32) packet.Properties {
	var props packet.Properties
	props.SessionExpiry = expiry
	props.Set(packet.PropSessionExpiry)
	return props
}

// TestFullDiskRefusesAtOnce: on an 8 MiB file system the store's free
// space reserve (64 MiB by default, store/pebble Options.MinFreeBytes) is
// never there, so everything that must be durable is refused from the
// start, with the reason in the log and in mast_store_failures_total: a
// persistent subscription is not acknowledged, a v5 QoS 1 retained
// PUBLISH gets PUBACK 0x97 (quota exceeded), a 3.1.1 one loses its
// connection. What needs no disk (clean sessions) goes on working.
func TestFullDiskRefusesAtOnce(t *testing.T) {
	mnt := mountTmpfs(t, "8m")
	addr, httpAddr := addrOf(freePort(t)), addrOf(freePort(t))
	p := startOnDisk(t, mnt, addr, httpAddr)

	keeper := connect(t, addr, packet.Version311, "keeper", "", "", false)
	keeper.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "keep/#", QoS: 1}}})
	for _, pk := range keeper.expectClosed() {
		if sa, ok := pk.(*packet.Suback); ok && sa.ReasonCodes[0] < 0x80 {
			t.Fatalf("a persistent subscription was granted (%#x) with no space to keep it", sa.ReasonCodes[0])
		}
	}

	v5 := connect(t, addr, packet.Version5, "pub5", "", "", true)
	v5.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "state/5", Payload: []byte("on")})
	if a, ok := v5.read().(*packet.Ack); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("v5 retained QoS 1 PUBLISH on a full disk: %+v, want PUBACK 0x97 quota exceeded", a)
	}

	v3 := connect(t, addr, packet.Version311, "pub3", "", "", true)
	v3.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "state/3", Payload: []byte("on")})
	if got := v3.expectClosed(); len(got) > 0 {
		t.Fatalf("3.1.1 retained QoS 1 PUBLISH on a full disk: got %+v, want the connection closed unacknowledged", got)
	}

	// Clean sessions and non-retained messages never touch the disk.
	live := connect(t, addr, packet.Version5, "live", "", "", true)
	if rc := live.subscribe(1, "live/#", 1); rc != 1 {
		t.Fatalf("clean SUBSCRIBE: %#x", rc)
	}
	if rc := v5.publish(2, "live/1", "still flowing"); rc != packet.Success {
		t.Fatalf("QoS 1 PUBLISH to a clean session: PUBACK %#x", rc)
	}
	if got := live.readPublish(); string(got.Payload) != "still flowing" {
		t.Fatalf("got %q", got.Payload)
	}

	line, _ := p.waitLog(0, "message not stored")
	if !strings.Contains(line, "kept in reserve") {
		t.Errorf("the log line %q does not say why", line)
	}
	p.waitLog(0, "subscriptions not stored")
	if n := storeFailures(t, httpAddr); n < 3 {
		t.Errorf("mast_store_failures_total %d, want at least 3 (a subscription, two publishes)", n)
	}
}

// TestFullDiskKeepsAcknowledged: a tmpfs a little larger than the store's
// 64 MiB reserve. A persistent subscriber is offline; a v5 publisher
// sends large QoS 1 messages until the disk is full, when PUBACK says
// 0x97 (quota exceeded) and keeps saying it; a 3.1.1 publisher's
// connection is dropped; the failures are logged and counted. The broker
// is then killed and restarted on the same directory, and the subscriber
// gets every message that was acknowledged, in order, and none of those
// refused.
func TestFullDiskKeepsAcknowledged(t *testing.T) {
	const room = 16 << 20 // above the reserve
	mnt := mountTmpfs(t, strconv.Itoa(64<<20+room))
	addr, httpAddr := addrOf(freePort(t)), addrOf(freePort(t))
	p := startOnDisk(t, mnt, addr, httpAddr)

	keeper := connect(t, addr, packet.Version311, "keeper", "", "", false)
	if rc := keeper.subscribe(1, "big/#", 1); rc != 1 {
		t.Fatalf("persistent SUBSCRIBE: %#x", rc)
	}
	keeper.send(&packet.Disconnect{})
	keeper.expectClosed()

	// Payloads that do not compress, so that what is written is what the
	// disk holds.
	rng := rand.New(rand.NewPCG(1, 2))
	payload := func(seq int) []byte {
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		copy(b, fmt.Sprintf("seq=%06d|", seq))
		return b
	}
	pub := connect(t, addr, packet.Version5, "filler", "", "", true)
	var acked []int
	refusedAt := 0
	for seq := 1; refusedAt == 0; seq++ {
		if seq > 2*room/(64<<10) {
			t.Fatalf("%d messages of 64 KiB acknowledged on a disk with %d MiB above the reserve: never refused", len(acked), room>>20)
		}
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(seq), Topic: "big/" + strconv.Itoa(seq%4), Payload: payload(seq)})
		a, ok := pub.read().(*packet.Ack)
		switch {
		case !ok || a.PacketID != uint16(seq):
			t.Fatalf("expected PUBACK %d, got %+v", seq, a)
		case a.ReasonCode == packet.Success:
			acked = append(acked, seq)
		case a.ReasonCode == packet.QuotaExceeded:
			refusedAt = seq
		default:
			t.Fatalf("PUBACK %d reason %#x, want 0 or 0x97", seq, a.ReasonCode)
		}
	}
	t.Logf("%d messages of 64 KiB acknowledged, refused from message %d on", len(acked), refusedAt)
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the disk was full")
	}
	refused := map[int]bool{refusedAt: true}
	for seq := refusedAt + 1; seq < refusedAt+4; seq++ {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(seq), Topic: "big/0", Payload: payload(seq)})
		if a, ok := pub.read().(*packet.Ack); !ok || a.ReasonCode != packet.QuotaExceeded {
			t.Fatalf("PUBLISH %d on a full disk: %+v, want PUBACK 0x97", seq, a)
		}
		refused[seq] = true
	}
	pub.alive()

	v3 := connect(t, addr, packet.Version311, "pub3", "", "", true)
	v3.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "big/3", Payload: []byte("seq=999999|3.1.1")})
	if got := v3.expectClosed(); len(got) > 0 {
		t.Fatalf("3.1.1 QoS 1 PUBLISH on a full disk: got %+v, want the connection closed unacknowledged", got)
	}
	line, _ := p.waitLog(0, "message not stored")
	t.Logf("log: %s", line)
	if n := storeFailures(t, httpAddr); n < len(refused)+1 {
		t.Errorf("mast_store_failures_total %d, want at least %d", n, len(refused)+1)
	}

	// A crash, and a restart on the same, still full, directory.
	p.kill()
	p = startOnDisk(t, mnt, addr, httpAddr)
	line, _ = p.waitLog(0, "restored ")
	if want := fmt.Sprintf("restored 1 sessions, 1 subscriptions, %d queued", len(acked)); !strings.Contains(line, want) {
		t.Errorf("start-up says %q, want %q", line, want)
	}
	keeper, ack := dialMQTT(t, addr, packet.Version311, &packet.Connect{ClientID: "keeper"})
	if ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("keeper after the restart: CONNACK %+v, want session present", ack)
	}
	for _, want := range acked {
		got := keeper.readPublish()
		seq, _ := strconv.Atoi(strings.TrimPrefix(string(got.Payload[:10]), "seq="))
		if refused[seq] {
			t.Fatalf("message %d was delivered although its PUBACK said 0x97", seq)
		}
		if seq != want {
			t.Fatalf("got message %d, want %d (acknowledged: %v)", seq, want, acked)
		}
	}
	keeper.alive()
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the broker died delivering on a full disk: %v", err)
	}
}
