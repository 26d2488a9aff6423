package crash_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

var mastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mast-crash-")
	if err != nil {
		panic(err)
	}
	mastBin = filepath.Join(dir, "mast")
	out, err := exec.Command("go", "build", "-o", mastBin, "github.com/mastmq/mast/cmd/mast").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building mast: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBroker runs the real binary on the data directory and waits for its
// listening line.
func startBroker(t *testing.T, dir string, port int) *exec.Cmd {
	t.Helper()
	// Queues large enough that the offline subscriber never overflows:
	// a drop past the limit is by design, and not what this test is about.
	cfg := filepath.Join(t.TempDir(), "mast.yaml")
	os.WriteFile(cfg, []byte("limits:\n  max_queued_messages: 1000000\n"), 0o600)
	cmd := exec.Command(mastBin, "serve", "-c", cfg, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log []string
		for sc.Scan() {
			log = append(log, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
			}
		}
		ready <- strings.Join(log, "\n")
	}()
	select {
	case out := <-ready:
		if out != "" {
			t.Fatalf("broker exited before listening:\n%s", out)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("broker did not start listening within 20s")
	}
	return cmd
}

// record is what the test saw: acknowledged sequence numbers per stream,
// and deliveries per subscriber and stream.
type record struct {
	mu        sync.Mutex
	published map[string]int   // stream -> messages handed to the client
	acked     map[string][]int // stream -> sequences acknowledged to it
	delivered map[string]map[string][]int
	retained  int // last acknowledged retained value
}

func (r *record) ack(stream string, seq int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked[stream] = append(r.acked[stream], seq)
	if stream == "state" && seq > r.retained {
		r.retained = seq
	}
}

func (r *record) deliver(sub, stream string, seq int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.delivered[sub] == nil {
		r.delivered[sub] = map[string][]int{}
	}
	r.delivered[sub][stream] = append(r.delivered[sub][stream], seq)
}

func parse(p *packet.Publish) (string, int) {
	stream, seq, _ := strings.Cut(string(p.Payload), ":")
	n, _ := strconv.Atoi(seq)
	return stream, n
}

// TestCrashLosesNothingAcknowledged kills the broker with SIGKILL at
// random moments while QoS 1 and QoS 2 publishers and persistent
// subscribers (one always connected, one connected every other round) are
// busy, restarts it on the same data directory each time, and checks at
// the end that every acknowledged message reached both subscribers (QoS 1
// at least once, QoS 2 exactly once), in order, and that the last
// acknowledged retained value is kept.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	rounds := 20
	if s := os.Getenv("MAST_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rec := &record{published: map[string]int{}, acked: map[string][]int{}, delivered: map[string]map[string][]int{}}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))

	pubs := map[string]*peer{}
	for _, stream := range []string{"q1", "q2"} {
		p := newPeer("pub-"+stream, addr, 8)
		p.acked = func(m *packet.Publish) { rec.ack(parse(m)) }
		p.deliver = func(*packet.Publish) {}
		pubs[stream] = p
	}
	subs := map[string]*peer{}
	for _, name := range []string{"always", "sometimes"} {
		s := newPeer("sub-"+name, addr, 1)
		s.deliver = func(m *packet.Publish) {
			stream, seq := parse(m)
			if !m.Retain {
				rec.deliver(name, stream, seq)
			}
		}
		subs[name] = s
	}

	seq := map[string]*int{"q1": new(int), "q2": new(int)}
	for round := 0; round <= rounds; round++ {
		cmd := startBroker(t, dir, port)
		filter := ""
		if round == 0 {
			filter = "crash/#"
		}
		mustConnect(t, subs["always"], filter)
		if round%2 == 0 || round == rounds {
			mustConnect(t, subs["sometimes"], filter)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for stream, p := range pubs {
			mustConnect(t, p, "")
			if round == rounds {
				continue // last round: only finish what is outstanding
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				qos := byte(1)
				if stream == "q2" {
					qos = 2
				}
				for {
					select {
					case <-stop:
						return
					default:
					}
					*seq[stream]++
					n := *seq[stream]
					m := &packet.Publish{QoS: qos, Topic: "crash/" + stream, Payload: []byte(stream + ":" + strconv.Itoa(n))}
					if stream == "q1" && n%10 == 0 {
						// Every tenth message also updates a retained value.
						rm := &packet.Publish{QoS: 1, Retain: true, Topic: "crash/state", Payload: []byte("state:" + strconv.Itoa(n))}
						rec.mu.Lock()
						rec.published["state"]++
						rec.mu.Unlock()
						if !pubs["q1"].publish(rm, stop) {
							return
						}
					}
					rec.mu.Lock()
					rec.published[stream]++
					rec.mu.Unlock()
					if !p.publish(m, stop) {
						return
					}
				}
			}()
		}
		if round == rounds {
			break
		}
		time.Sleep(time.Duration(50+rng.IntN(350)) * time.Millisecond) // a random moment to crash
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		close(stop)
		wg.Wait()
		for _, p := range pubs {
			p.close()
		}
		for _, s := range subs {
			s.close()
		}
	}

	// Final round: the broker stays up; wait until the publishers have
	// nothing outstanding and both subscribers hold every acknowledged
	// message, or give up after 30 s.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if pubs["q1"].outstanding() == 0 && pubs["q2"].outstanding() == 0 && allDelivered(rec) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	check(t, rec, addr)
}

func mustConnect(t *testing.T, p *peer, filter string) {
	t.Helper()
	var err error
	for range 50 {
		if err = p.connect(filter); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", p.id, err)
}

func allDelivered(rec *record) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, stream := range []string{"q1", "q2"} {
		for _, sub := range []string{"always", "sometimes"} {
			got := map[int]bool{}
			for _, s := range rec.delivered[sub][stream] {
				got[s] = true
			}
			for _, s := range rec.acked[stream] {
				if !got[s] {
					return false
				}
			}
		}
	}
	return true
}

func check(t *testing.T, rec *record, addr string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, stream := range []string{"q1", "q2"} {
		for _, sub := range []string{"always", "sometimes"} {
			got := rec.delivered[sub][stream]
			count := map[int]int{}
			last, outOfOrder := 0, 0
			for _, s := range got {
				if count[s] == 0 {
					if s < last {
						outOfOrder++
					}
					last = s
				}
				count[s]++
			}
			lost, dups := 0, 0
			for _, s := range rec.acked[stream] {
				if count[s] == 0 {
					lost++
				}
			}
			for _, c := range count {
				dups += c - 1
			}
			t.Logf("%s -> %s: published %d, acknowledged %d, delivered %d, duplicates %d, lost %d, out of order %d",
				stream, sub, rec.published[stream], len(rec.acked[stream]), len(got), dups, lost, outOfOrder)
			if lost > 0 {
				t.Errorf("%s -> %s: %d acknowledged messages lost", stream, sub, lost)
			}
			if stream == "q2" && dups > 0 {
				t.Errorf("%s -> %s: %d duplicates at QoS 2", stream, sub, dups)
			}
			if outOfOrder > 0 {
				t.Errorf("%s -> %s: %d messages out of order", stream, sub, outOfOrder)
			}
		}
	}
	if len(rec.acked["q1"]) == 0 || len(rec.acked["q2"]) == 0 {
		t.Error("nothing was acknowledged: the test proved nothing")
	}
	// The retained value is the last acknowledged one or a later one whose
	// acknowledgement was lost in a crash.
	got := readRetained(t, addr)
	t.Logf("retained: last acknowledged state:%d, broker has state:%d", rec.retained, got)
	if got < rec.retained {
		t.Errorf("retained value state:%d older than the last acknowledged state:%d", got, rec.retained)
	}
}

func readRetained(t *testing.T, addr string) int {
	got := make(chan int, 1)
	p := newPeer("retained-reader", addr, 1)
	p.deliver = func(m *packet.Publish) {
		if m.Retain {
			_, n := parse(m)
			select {
			case got <- n:
			default:
			}
		}
	}
	mustConnect(t, p, "crash/state")
	defer p.close()
	select {
	case n := <-got:
		return n
	case <-time.After(5 * time.Second):
		t.Error("no retained value")
		return 0
	}
}
