package web_test

import (
	"context"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/packet"
)

// MQTT.js in Node, over WebSocket, at MQTT 3.1.1 and 5: it subscribes,
// publishes (one message of 200 KiB, which spans many WebSocket frames)
// and receives its own messages and one a Go client publishes over TCP;
// the Go client receives what MQTT.js published.
func TestMQTTjsNode(t *testing.T) {
	needNode(t)
	for _, version := range []string{"4", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s := startStack(t, admin.Options{})
			prefix := "web/node" + version
			watcher := s.connect(t, "go-watcher")
			watcher.subscribe(prefix + "/own")
			gopub := s.connect(t, "go-pub")

			out := script(t, ctx, func(line string) {
				if line == "SUBSCRIBED" {
					gopub.publish(prefix+"/from-go", "hello from go", false)
				}
			}, "mqttjs_node.js", s.wsURL, prefix, version)

			var got map[string]struct{ QoS, Bytes int }
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got[prefix+"/big"].Bytes != 200*1024 || got[prefix+"/own"].QoS != 1 {
				t.Errorf("MQTT.js received %+v", got)
			}
			if p := watcher.expect(prefix + "/own"); p != "hello over ws" {
				t.Errorf("Go subscriber got %q", p)
			}
		})
	}
}

// MQTT.js's browser bundle in headless Chromium: a page served here
// connects over WebSocket, subscribes, publishes and receives.
func TestMQTTjsChromium(t *testing.T) {
	needNode(t)
	needChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := startStack(t, admin.Options{})
	const prefix = "web/browser"
	watcher := s.connect(t, "go-watcher")
	watcher.subscribe(prefix + "/own")
	gopub := s.connect(t, "go-pub")

	page := template.Must(template.ParseFiles(filepath.Join("testdata", "browser_mqttjs.html")))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		page.Execute(w, map[string]string{"WSURL": s.wsURL, "Prefix": prefix})
	})
	mux.HandleFunc("GET /mqtt.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "node_modules", "mqtt", "dist", "mqtt.min.js"))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()

	out := script(t, ctx, func(line string) {
		if line == "SUBSCRIBED" {
			gopub.publish(prefix+"/from-go", "hello from go", false)
		}
	}, "browser_mqttjs.js", hs.URL+"/")

	var got struct {
		Messages  map[string]string
		UserAgent string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Messages[prefix+"/own"] != "hello from chromium" || got.Messages[prefix+"/from-go"] != "hello from go" {
		t.Errorf("the page received %v", got.Messages)
	}
	if !strings.Contains(got.UserAgent, "Chrome/") {
		t.Errorf("user agent %q: not Chromium?", got.UserAgent)
	}
	if p := watcher.expect(prefix + "/own"); p != "hello from chromium" {
		t.Errorf("Go subscriber got %q", p)
	}
}

// The dashboard in headless Chromium, behind a token: it shows a connected
// client, a message rate while the test publishes and a retained value;
// searching and Disconnect work; the "try it" panel connects over
// WebSocket, subscribes and publishes, and the test's subscriber receives
// the message. No console errors. A screenshot is saved.
func TestDashboardChromium(t *testing.T) {
	needNode(t)
	needChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const token = "web-test-token"
	s := startStack(t, admin.Options{Token: token})

	watcher := s.connect(t, "go-watcher")
	watcher.subscribe("web/dash/#")
	victim := s.connect(t, "victim")
	retainer := s.connect(t, "go-retainer")
	retainer.publish("house/kitchen/temp", "21.5", true)
	retainer.publish("house/kitchen/light", "on", true)
	retainer.publish("house/garage/door", "closed", true)
	retainer.publish("garden/soil/moisture", "38%", true)

	// Load: a publisher and a subscriber that drains, until the page is done.
	sink := s.connect(t, "go-sink")
	sink.subscribe("load/#")
	load := s.connect(t, "go-load")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				if load.send(&packet.Publish{Topic: "load/" + strconv.Itoa(i%4), Payload: []byte("x")}) != nil {
					return
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			sink.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := sink.nc.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	shot := filepath.Join(artifactDir(t), "dashboard.png")
	out := script(t, ctx, nil, "dashboard.js", s.adminHS.URL+"/", token, shot)
	var got struct {
		Rate     string
		TryItURL string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.TryItURL != s.wsURL {
		t.Errorf("try-it URL %q, want the broker's %q", got.TryItURL, s.wsURL)
	}
	victim.expectClosed()
	if p := watcher.expect("web/dash/hello"); p != "hello from the try-it panel" {
		t.Errorf("test subscriber got %q", p)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s (message rate shown: %s/s)", shot, got.Rate)
}

// Python paho (Debian's python3-paho-mqtt) with transport="websockets".
func TestPahoPythonWebSockets(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Fatal("/usr/bin/python3 is missing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := startStack(t, admin.Options{})
	const prefix = "web/paho"
	watcher := s.connect(t, "go-watcher")
	watcher.subscribe(prefix + "/own")
	gopub := s.connect(t, "go-pub")
	host, port, _ := net.SplitHostPort(s.ws)

	out := script(t, ctx, func(line string) {
		if line == "SUBSCRIBED" {
			gopub.publish(prefix+"/from-go", "hello from go", false)
		}
	}, "paho_ws.py", host, port, "/mqtt", prefix)

	var got map[string]struct{ QoS int }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got[prefix+"/from-go"]; !ok || got[prefix+"/own"].QoS != 1 {
		t.Errorf("paho received %+v", got)
	}
	if p := watcher.expect(prefix + "/own"); p != "hello from paho" {
		t.Errorf("Go subscriber got %q", p)
	}
}
