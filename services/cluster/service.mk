# hutch-cluster: hutch.alerts.enriched -> tickets -> hutch.alerts.clustered + hutch.tickets.events.
PROGRAMS += $(BIN)/hutch-cluster
hutch_cluster_SRCS := services/cluster/main.c services/cluster/cluster.c services/cluster/store.c \
	services/cluster/bind.c services/cluster/shapes.c services/cluster/shape_index.c services/cluster/shape_index_pg.c
hutch_cluster_PKGS := $(sort $(PKGS_service) $(PKGS_ticket) libcrypto $(PKGS_shape) $(PKGS_embed))
UNIT_TESTS += $(BIN)/test_cluster
test_cluster_SRCS := services/cluster/test_cluster.c services/cluster/cluster.c
test_cluster_PKGS := cmocka jansson libcrypto $(PKGS_msg)
UNIT_TESTS += $(BIN)/test_bind
test_bind_SRCS := services/cluster/test_bind.c services/cluster/bind.c
test_bind_PKGS := cmocka $(PKGS_severity)
UNIT_TESTS += $(BIN)/test_dbscan
test_dbscan_SRCS := services/cluster/test_dbscan.c services/cluster/dbscan.c
test_dbscan_PKGS := cmocka
UNIT_TESTS += $(BIN)/test_cluster_store
test_cluster_store_SRCS := services/cluster/test_store.c services/cluster/store.c services/cluster/cluster.c \
	services/cluster/bind.c services/cluster/shapes.c
test_cluster_store_PKGS := $(sort cmocka libcrypto $(PKGS_ticket) $(PKGS_shape) $(PKGS_embed) $(PKGS_severity))
UNIT_TESTS += $(BIN)/test_shape_index
test_shape_index_SRCS := services/cluster/test_shape_index.c services/cluster/shape_index.c
test_shape_index_PKGS := cmocka
