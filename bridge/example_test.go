package bridge_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/broker"
)

// A broker that sends its sensor readings to a cloud broker under
// site1/, and takes commands for the site from it.
func ExampleStart() {
	srv := broker.New(broker.Options{})
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	stop, err := bridge.Start(context.Background(), srv, []bridge.Config{{
		Name:    "cloud",
		Address: "mqtts://cloud.example.com:8883",
		Topics: []bridge.Topic{
			{Pattern: "sensors/#", Direction: bridge.Out, QoS: 1, RemotePrefix: "site1/"},
			{Pattern: "commands/#", Direction: bridge.In, QoS: 2, LocalPrefix: "cloud/", RemotePrefix: "site1/"},
		},
	}}, logger)
	if err != nil {
		logger.Error(err.Error())
		return
	}
	defer stop()
	// ... serve listeners with srv ...
}
