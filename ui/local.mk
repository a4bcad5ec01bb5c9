# The web console: assets under ui/assets/ become C arrays (ui/assets.c) at make time.
UI_ASSETS = $(srcdir)/ui/assets/index.html $(srcdir)/ui/assets/app.js \
	$(srcdir)/ui/assets/app.css $(srcdir)/ui/assets/favicon.svg
noinst_LTLIBRARIES += libui.la
libui_la_SOURCES = ui/ui.h ui/ui.c
nodist_libui_la_SOURCES = ui/assets.c
ui/assets.c: $(UI_ASSETS) $(srcdir)/ui/embed.sh
	@$(MKDIR_P) ui
	$(AM_V_GEN)$(SHELL) $(srcdir)/ui/embed.sh $(UI_ASSETS) >$@.tmp && mv $@.tmp $@
CLEANFILES += ui/assets.c
EXTRA_DIST += $(UI_ASSETS) ui/embed.sh
