# hutch-devbroker: librdkafka's mock cluster on loopback (see tools/devbroker/main.c).
PROGRAMS += $(BIN)/hutch-devbroker
hutch_devbroker_SRCS := tools/devbroker/main.c
hutch_devbroker_PKGS := rdkafka
