# hutch-llm: one tool-loop run (or several at once) with the HUTCH_LLM_* model (common/llm.h).
PROGRAMS += $(BIN)/hutch-llm
hutch_llm_SRCS := tools/llm/main.c
hutch_llm_PKGS := $(sort $(PKGS_llm) $(PKGS_log) $(PKGS_mcp))
