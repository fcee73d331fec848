# hutch-embed: stdin lines -> vectors with the HUTCH_EMBED_* embedder (common/embed.h).
PROGRAMS += $(BIN)/hutch-embed
hutch_embed_SRCS := tools/embed/main.c
hutch_embed_PKGS := $(sort $(PKGS_embed) $(PKGS_shape))
