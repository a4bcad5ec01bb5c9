bin_PROGRAMS += cairn
cairn_SOURCES = cli/main.c
cairn_LDADD = libutil.la $(CAIRN_LIBS)
