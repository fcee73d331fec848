# OPA conformance driver: runs the YAML cases of ../shared/opa-conformance.
PROGRAMS += $(BIN)/hutch-rego-conformance
hutch_rego_conformance_SRCS := tools/rego-conformance/main.c
hutch_rego_conformance_PKGS := yaml-0.1
hutch_rego_conformance_REGO := yes
