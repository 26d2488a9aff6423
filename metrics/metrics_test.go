package metrics_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/metrics"
	"github.com/mastmq/mast/packet"
)

func TestScrapeShowsTraffic(t *testing.T) {
	m := metrics.New()
	srv := broker.New(broker.Options{Observer: m, SysInterval: -1})
	m.Attach(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	// One client subscribes and publishes to itself: one message in, one out.
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := func(p packet.Packet) {
		b, _ := packet.Append(nil, 4, p)
		nc.Write(b)
	}
	send(&packet.Connect{ProtocolName: "MQTT", Version: 4, ClientID: "m", CleanStart: true})
	send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t"}}})
	send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		p, err := packet.Read(nc, 4, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.(*packet.Publish); ok {
			break
		}
	}

	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		"mast_clients_connected 1",
		`mast_messages_received_total{qos="0"} 1`,
		`mast_messages_sent_total{qos="0"} 1`,
		`mast_packets_received_total{type="subscribe"} 1`,
		"mast_delivery_latency_seconds_count 1",
		"mast_subscriptions 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestStoreDiskBytes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/a", make([]byte, 1000), 0o600)
	m := metrics.New()
	m.WatchDirectory(dir)
	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "mast_store_disk_bytes 1000") {
		t.Fatal("mast_store_disk_bytes 1000 not in the scrape")
	}
}
