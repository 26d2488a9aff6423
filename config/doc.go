// Package config reads mast's YAML configuration file into one Config: the
// listeners, the broker's Options and the logging settings. Decoding is
// strict: an unknown key or a bad value is an error that names the file and
// the line. Mosquitto's mosquitto.conf format will map to the same Config.
package config
