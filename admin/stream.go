package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// statsBody is broker.Stats in the API's JSON: snake_case names, packet
// counts keyed by packet type name.
type statsBody struct {
	ClientsConnected    int               `json:"clients_connected"`
	Sessions            int               `json:"sessions"`
	Subscriptions       int               `json:"subscriptions"`
	Retained            int               `json:"retained"`
	ConnectionsTotal    uint64            `json:"connections_total"`
	MessagesReceived    uint64            `json:"messages_received"`
	MessagesSent        uint64            `json:"messages_sent"`
	BytesReceived       uint64            `json:"bytes_received"`
	BytesSent           uint64            `json:"bytes_sent"`
	MessagesDropped     uint64            `json:"messages_dropped"`
	UptimeSeconds       int64             `json:"uptime_seconds"`
	PacketsIn           map[string]uint64 `json:"packets_in"`
	PacketsOut          map[string]uint64 `json:"packets_out"`
	ReceivedByQoS       [3]uint64         `json:"received_by_qos"`
	SentByQoS           [3]uint64         `json:"sent_by_qos"`
	Inflight            int               `json:"inflight"`
	Queued              int               `json:"queued"`
	StoreFailures       uint64            `json:"store_failures"`
	AuthFailures        uint64            `json:"auth_failures"`
	Denied              uint64            `json:"denied"`
	RefusedMaxConns     uint64            `json:"refused_max_connections"`
	RefusedRate         uint64            `json:"refused_rate"`
	Throttled           uint64            `json:"throttled"`
	TopicLimitHits      uint64            `json:"topic_limit_hits"`
	SubscriptionLimited uint64            `json:"subscription_limited"`
}

func statsJSON(s broker.Stats) statsBody {
	b := statsBody{
		ClientsConnected: s.ClientsConnected, Sessions: s.Sessions, Subscriptions: s.Subscriptions,
		Retained: s.Retained, ConnectionsTotal: s.ConnectionsTotal,
		MessagesReceived: s.MessagesReceived, MessagesSent: s.MessagesSent,
		BytesReceived: s.BytesReceived, BytesSent: s.BytesSent, MessagesDropped: s.MessagesDropped,
		UptimeSeconds: s.UptimeSeconds, ReceivedByQoS: s.ReceivedByQoS, SentByQoS: s.SentByQoS,
		Inflight: s.Inflight, Queued: s.Queued, StoreFailures: s.StoreFailures,
		AuthFailures: s.AuthFailures, Denied: s.Denied, RefusedMaxConns: s.RefusedMaxConns,
		RefusedRate: s.RefusedRate, Throttled: s.Throttled, TopicLimitHits: s.TopicLimitHits,
		SubscriptionLimited: s.SubscriptionLimited,
		PacketsIn:           make(map[string]uint64), PacketsOut: make(map[string]uint64),
	}
	for t := packet.CONNECT; t <= packet.AUTH; t++ {
		b.PacketsIn[t.String()] = s.PacketsIn[t]
		b.PacketsOut[t.String()] = s.PacketsOut[t]
	}
	return b
}

// rates are per second over the last interval.
type rates struct {
	MessagesIn  float64 `json:"messages_in_per_second"`
	MessagesOut float64 `json:"messages_out_per_second"`
	BytesIn     float64 `json:"bytes_in_per_second"`
	BytesOut    float64 `json:"bytes_out_per_second"`
	Connections float64 `json:"connections_per_second"` // sockets accepted
}

// statsEvent is one Server-Sent Event of GET /api/v1/stats/stream.
type statsEvent struct {
	Time             time.Time `json:"time"`
	IntervalSeconds  float64   `json:"interval_seconds"` // what the rates are over; 0 in the first event
	ClientsConnected int       `json:"clients_connected"`
	Rates            rates     `json:"rates"`
	Stats            statsBody `json:"stats"`
}

// Bounds of ?interval= on the stream.
const (
	defaultStreamInterval = time.Second
	minStreamInterval     = 100 * time.Millisecond
	maxStreamInterval     = time.Minute
)

// statsStream sends a stats snapshot with rates every interval as
// Server-Sent Events ("event: stats") until the client goes away.
func (a *Server) statsStream(w http.ResponseWriter, r *http.Request) {
	interval := defaultStreamInterval
	if s := r.URL.Query().Get("interval"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < minStreamInterval || d > maxStreamInterval {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("interval %q is not a duration from %v to %v", s, minStreamInterval, maxStreamInterval))
			return
		}
		interval = d
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")

	var prev broker.Stats
	var prevAt time.Time
	send := func() error {
		now := time.Now()
		st := a.srv.Stats()
		ev := statsEvent{Time: now.UTC(), ClientsConnected: st.ClientsConnected, Stats: statsJSON(st)}
		if !prevAt.IsZero() {
			el := now.Sub(prevAt).Seconds()
			ev.IntervalSeconds = el
			ev.Rates = rates{
				MessagesIn:  perSecond(st.MessagesReceived, prev.MessagesReceived, el),
				MessagesOut: perSecond(st.MessagesSent, prev.MessagesSent, el),
				BytesIn:     perSecond(st.BytesReceived, prev.BytesReceived, el),
				BytesOut:    perSecond(st.BytesSent, prev.BytesSent, el),
				Connections: perSecond(st.ConnectionsTotal, prev.ConnectionsTotal, el),
			}
		}
		prev, prevAt = st, now
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: stats\ndata: %s\n\n", data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if send() != nil {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if send() != nil {
				return
			}
		}
	}
}

func perSecond(now, before uint64, seconds float64) float64 {
	if seconds <= 0 || now < before {
		return 0
	}
	return float64(now-before) / seconds
}
