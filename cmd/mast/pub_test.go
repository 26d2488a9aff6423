package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// Side by side: the same command line run as mosquitto_pub and as mast pub
// must deliver the same messages (topic, payload, QoS, retain, v5
// properties) to a subscriber, print the same and exit with the same code.

// received is what a subscriber saw of one message.
type received struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
	Props   string
}

// watcher subscribes to "p/#" at QoS 2, v5, with Retain As Published, and
// records what arrives.
type watcher struct {
	mu   sync.Mutex
	msgs []received
	ch   chan struct{}
}

func newWatcher(t *testing.T, port string) *watcher {
	t.Helper()
	w := &watcher{ch: make(chan struct{}, 1)}
	c, err := client.New(client.Options{Servers: []string{"mqtt://127.0.0.1:" + port}, ClientID: "watcher",
		CleanStart: true, OnMessage: func(_ *client.Client, m *client.Message) {
			p := m.Properties
			p.SubscriptionIDs = nil
			w.mu.Lock()
			w.msgs = append(w.msgs, received{m.Topic, string(m.Payload), m.QoS, m.Retain, fmt.Sprintf("%+v", p)})
			w.mu.Unlock()
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: "p/#", QoS: 2, RetainAsPublished: true}); err != nil {
		t.Fatal(err)
	}
	return w
}

// take waits for n messages and returns them, failing if more arrive soon
// after.
func (w *watcher) take(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		got := len(w.msgs)
		w.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", got, n)
		}
	}
	time.Sleep(20 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	if len(out) != n {
		t.Errorf("got %d messages, want %d: %+v", len(out), n, out)
	}
	return out
}

func TestPubSideBySide(t *testing.T) {
	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, []byte("file\ncontent\x00\xff"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		stdin string
		n     int // messages each tool sends
	}{
		{"message", []string{"-t", "p/a", "-m", "hello"}, "", 1},
		{"qos1", []string{"-t", "p/a", "-m", "hello", "-q", "1"}, "", 1},
		{"qos2", []string{"-t", "p/a", "-m", "hello", "-q", "2"}, "", 1},
		{"retain", []string{"-t", "p/r", "-m", "kept", "-r", "-q", "1"}, "", 1},
		{"null", []string{"-t", "p/a", "-n"}, "", 1},
		{"empty", []string{"-t", "p/a", "-m", ""}, "", 1},
		{"file", []string{"-t", "p/a", "-f", file}, "", 1},
		{"stdin", []string{"-t", "p/a", "-s"}, "all\nof it\n", 1},
		{"lines", []string{"-t", "p/a", "-l", "-q", "1"}, "l1\nl2\n\nl4", 4},
		{"repeat", []string{"-t", "p/a", "-m", "again", "--repeat", "3", "--repeat-delay", "0.01"}, "", 3},
		{"mqttv31", []string{"-t", "p/a", "-m", "old", "-V", "mqttv31", "-q", "2"}, "", 1},
		{"v5", []string{"-t", "p/a", "-m", "{}", "-V", "5", "-q", "1",
			"-D", "publish", "content-type", "application/json", "-D", "publish", "user-property", "k", "v",
			"-D", "publish", "user-property", "k", "v2", "-D", "publish", "message-expiry-interval", "100",
			"-D", "publish", "correlation-data", "abc", "-D", "publish", "response-topic", "p/reply",
			"-D", "publish", "payload-format-indicator", "1"}, "", 1},
		{"v5-topic-alias", []string{"-t", "p/alias", "-m", "a", "-V", "5", "-D", "publish", "topic-alias", "1", "--repeat", "2"}, "", 2},
		{"credentials", []string{"-t", "p/a", "-m", "x", "-u", "user", "-P", "secret", "-i", "named", "-k", "30"}, "", 1},
		{"will", []string{"-t", "p/a", "-m", "x", "--will-topic", "p/will", "--will-payload", "unused", "--will-qos", "1"}, "", 1},
	}
	_, port := cliBroker(t)
	w := newWatcher(t, port)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-h", "127.0.0.1", "-p", port}, c.args...)
			want := runProc(t, c.stdin, mosquittoTool("pub"), args...)
			wantMsgs := w.take(t, c.n)
			got := runProc(t, c.stdin, mastBin, append([]string{"pub"}, args...)...)
			gotMsgs := w.take(t, c.n)
			if got.code != want.code || got.stdout != want.stdout || got.stderr != want.stderr {
				t.Errorf("mast exit %d %q %q, mosquitto exit %d %q %q",
					got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
			}
			if !reflect.DeepEqual(gotMsgs, wantMsgs) {
				t.Errorf("mast pub delivered\n%+v\nmosquitto_pub delivered\n%+v", gotMsgs, wantMsgs)
			}
		})
	}
	// -L takes the server and the topic from a URL.
	url := "mqtt://127.0.0.1:" + port + "/p/url"
	runProc(t, "", mosquittoTool("pub"), "-L", url, "-m", "u")
	want := w.take(t, 1)
	if r := runIn("pub", "-L", url, "-m", "u"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := w.take(t, 1); !reflect.DeepEqual(got, want) {
		t.Errorf("-L: %+v, want %+v", got, want)
	}
}

// -d prints the client's Paho-style lines.
func TestPubDebug(t *testing.T) {
	_, port := cliBroker(t)
	r := runIn("pub", "-h", "127.0.0.1", "-p", port, "-i", "dbg", "-t", "a", "-m", "hello", "-q", "1", "-d")
	want := `Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k60) client_id=b'dbg'
Received CONNACK (0, 0)
Sending PUBLISH (d0, q1, r0, m1), 'a', ... (5 bytes)
Received PUBACK (Mid: 1)
Sending DISCONNECT
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
}

// A v5 server's refusal of a message is a warning, exit code 0, worded as
// mosquitto_pub words it.
func TestPubRefusedSideBySide(t *testing.T) {
	// Run as root, mosquitto drops to its own user before reading the ACL
	// file, so the file must be readable by all.
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	acl := filepath.Join(dir, "acl")
	if err := os.WriteFile(acl, []byte("topic read ro/#\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := cliMosquitto(t, "allow_anonymous true\nacl_file "+acl+"\n")
	for _, qos := range []string{"1", "2"} {
		args := []string{"-h", "127.0.0.1", "-p", port, "-t", "ro/x", "-m", "x", "-V", "5", "-q", qos}
		want := runProc(t, "", mosquittoTool("pub"), args...)
		got := runIn(append([]string{"pub"}, args...)...)
		if got.code != want.code || got.stderr != want.stderr {
			t.Errorf("QoS %s: mast exit %d %q, mosquitto exit %d %q", qos, got.code, got.stderr, want.code, want.stderr)
		}
	}
}
