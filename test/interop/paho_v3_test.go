package interop_test

import (
	"fmt"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mastmq/mast/broker"
)

// MQTT 3.1 and 3.1.1 with eclipse/paho.mqtt.golang against the in-process
// broker.

var v3Versions = []struct {
	name  string
	level uint   // protocol level paho.mqtt.golang sends
	tag   string // how the console names it, as mosquitto does
}{
	{"3.1", 3, "p1"},
	{"3.1.1", 4, "p2"},
}

func TestPahoV3PublishSubscribeQoS(t *testing.T) {
	b := startBroker(t, broker.Options{})
	for _, v := range v3Versions {
		for qos := range byte(3) {
			t.Run(fmt.Sprintf("%s/qos%d", v.name, qos), func(t *testing.T) {
				topic := fmt.Sprintf("v3/%s/qos%d", v.name, qos)
				subID := fmt.Sprintf("v3-sub-%s-%d", v.tag, qos)
				sub, present := dialV3(t, b.addr, subID, v.level, nil)
				if present {
					t.Error("CONNACK session present on a clean session, want 0 [MQTT-3.2.2-1]")
				}
				b.console.waitFor(t, "as "+subID+" ("+v.tag+", c1, k30).")
				sub.sub(topic, 2)
				pub, _ := dialV3(t, b.addr, fmt.Sprintf("v3-pub-%s-%d", v.tag, qos), v.level, nil)
				want := []string{"one", "two", "three"}
				for _, p := range want {
					pub.pub(topic, qos, false, p)
				}
				// In publication order [MQTT-4.6.0-6], at the QoS
				// published since the subscription granted 2.
				for _, p := range want {
					m := sub.next()
					if m.Topic() != topic || string(m.Payload()) != p || m.Qos() != qos || m.Retained() || m.Duplicate() {
						t.Fatalf("received %q %q QoS %d retain %v dup %v, want %q %q QoS %d",
							m.Topic(), m.Payload(), m.Qos(), m.Retained(), m.Duplicate(), topic, p, qos)
					}
				}
			})
		}
	}
}

func TestPahoV3Retained(t *testing.T) {
	b := startBroker(t, broker.Options{})
	for _, v := range v3Versions {
		t.Run(v.name, func(t *testing.T) {
			topic := "v3/" + v.tag + "/house/main-light"
			pub, _ := dialV3(t, b.addr, "v3-switch-"+v.tag, v.level, nil)
			pub.pub(topic, 1, true, "on")

			// A new subscriber gets the retained message [MQTT-3.3.1-6]
			// with RETAIN 1 [MQTT-3.3.1-8] ...
			sub, _ := dialV3(t, b.addr, "v3-panel-"+v.tag, v.level, nil)
			sub.sub("v3/"+v.tag+"/house/#", 1)
			if m := sub.next(); m.Topic() != topic || string(m.Payload()) != "on" || !m.Retained() {
				t.Fatalf("on subscribe got %q %q retain %v, want %q on retain true", m.Topic(), m.Payload(), m.Retained(), topic)
			}
			// ... and live ones with RETAIN 0 [MQTT-3.3.1-9].
			pub.pub(topic, 1, true, "off")
			if m := sub.next(); string(m.Payload()) != "off" || m.Retained() {
				t.Fatalf("live message %q retain %v, want off retain false", m.Payload(), m.Retained())
			}
			// A zero-byte retained message removes it [MQTT-3.3.1-10].
			pub.pub(topic, 1, true, "")
			sub.next()
			again, _ := dialV3(t, b.addr, "v3-panel2-"+v.tag, v.level, nil)
			again.sub("v3/"+v.tag+"/house/#", 1)
			pub.pub(topic, 1, false, "live")
			if m := again.next(); string(m.Payload()) != "live" || m.Retained() {
				t.Fatalf("after clearing, first message %q retain %v, want live retain false", m.Payload(), m.Retained())
			}
		})
	}
}

func TestPahoV3WillOnAbruptClose(t *testing.T) {
	b := startBroker(t, broker.Options{})
	for _, v := range v3Versions {
		t.Run(v.name, func(t *testing.T) {
			status := "v3/" + v.tag + "/status/"
			watcher, _ := dialV3(t, b.addr, "v3-watcher-"+v.tag, v.level, nil)
			watcher.sub(status+"#", 1)
			withWill := func(id string) func(*mqtt.ClientOptions) {
				return func(o *mqtt.ClientOptions) { o.SetWill(status+id, id+" offline", 1, true) }
			}

			// DISCONNECT deletes the will [MQTT-3.1.2-10].
			politeID := "v3-polite-" + v.tag
			polite, _ := dialV3(t, b.addr, politeID, v.level, withWill(politeID))
			b.console.waitFor(t, "as "+politeID+" ("+v.tag+", c1, k30).")
			polite.Disconnect(250)
			b.console.waitFor(t, "Client "+politeID+" disconnected.")

			// A dropped connection publishes it [MQTT-3.1.2-8].
			dyingID := "v3-dying-" + v.tag
			dying, _ := dialV3(t, b.addr, dyingID, v.level, withWill(dyingID))
			dying.drop()
			m := watcher.next()
			if m.Topic() != status+dyingID || string(m.Payload()) != dyingID+" offline" || m.Qos() != 1 {
				t.Fatalf("watcher got %q %q QoS %d, want the will of %s at QoS 1 (and none from %s)",
					m.Topic(), m.Payload(), m.Qos(), dyingID, politeID)
			}
			// Will Retain 1: it is also kept as a retained message
			// [MQTT-3.1.2-17].
			late, _ := dialV3(t, b.addr, "v3-late-"+v.tag, v.level, nil)
			late.sub(status+"#", 0)
			if m := late.next(); m.Topic() != status+dyingID || string(m.Payload()) != dyingID+" offline" || !m.Retained() {
				t.Fatalf("late subscriber got %q %q retain %v, want the retained will", m.Topic(), m.Payload(), m.Retained())
			}
		})
	}
}

func TestPahoV3PersistentSession(t *testing.T) {
	b := startBroker(t, broker.Options{})
	for _, v := range v3Versions {
		t.Run(v.name, func(t *testing.T) {
			id := "v3-worker-" + v.tag
			topic := "v3/" + v.tag + "/jobs"
			keep := func(o *mqtt.ClientOptions) { o.SetCleanSession(false) }
			worker, present := dialV3(t, b.addr, id, v.level, keep)
			if present {
				t.Fatal("first CONNECT: session present, want none")
			}
			b.console.waitFor(t, "as "+id+" ("+v.tag+", c0, k30).")
			worker.sub(topic, 1)
			worker.Disconnect(250)
			b.console.waitFor(t, "Client "+id+" disconnected.")

			// The session keeps its subscription and stores QoS 1
			// messages while disconnected [MQTT-3.1.2-4] [MQTT-3.1.2-5].
			boss, _ := dialV3(t, b.addr, "v3-boss-"+v.tag, v.level, nil)
			jobs := []string{"job 1", "job 2", "job 3"}
			for _, j := range jobs {
				boss.pub(topic, 1, false, j)
			}
			worker, present = dialV3(t, b.addr, id, v.level, keep)
			if v.level == 4 && !present {
				t.Error("resuming: CONNACK session present 0, want 1 [MQTT-3.2.2-2]")
			}
			for _, j := range jobs {
				m := worker.next()
				if m.Topic() != topic || string(m.Payload()) != j || m.Qos() != 1 {
					t.Fatalf("resumed session got %q %q QoS %d, want %q %q QoS 1", m.Topic(), m.Payload(), m.Qos(), topic, j)
				}
			}
			boss.pub(topic, 1, false, "job 4")
			if m := worker.next(); string(m.Payload()) != "job 4" {
				t.Fatalf("live message after resume %q, want job 4", m.Payload())
			}
		})
	}
}
