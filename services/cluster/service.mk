# hutch-cluster: hutch.alerts.enriched -> tickets -> hutch.alerts.clustered + hutch.tickets.events.
PROGRAMS += $(BIN)/hutch-cluster
hutch_cluster_SRCS := services/cluster/main.c services/cluster/cluster.c services/cluster/store.c
hutch_cluster_PKGS := $(sort $(PKGS_service) $(PKGS_ticket)) libcrypto
UNIT_TESTS += $(BIN)/test_cluster
test_cluster_SRCS := services/cluster/test_cluster.c services/cluster/cluster.c
test_cluster_PKGS := cmocka jansson libcrypto $(PKGS_msg)
UNIT_TESTS += $(BIN)/test_dbscan
test_dbscan_SRCS := services/cluster/test_dbscan.c services/cluster/dbscan.c
test_dbscan_PKGS := cmocka
