bin_PROGRAMS += cairn
cairn_SOURCES = cli/cli.h cli/cli_opts.h cli/main.c cli/init.c cli/client.c cli/inspect.c \
	cli/config_cmd.c cli/api_client.c cli/admin_cmd.c cli/policy_cmd.c cli/revoke.c cli/acme_cmd.c \
	cli/est_cmd.c cli/output.c cli/manpage.c cli/archive.h cli/archive.c cli/archive_db.c \
	cli/backup.c cli/restore.c cli/notify_cmd.c \
	cli/ca_import.c cli/inventory_cli.h cli/inventory_cmd.c cli/discover_cmd.c cli/replace_cmd.c \
	cli/publish_cmd.c
cairn_LDADD = libserver.la libui.la libadmin.la libest.la libacme.la libcrl.la libocsp.la libpolicy.la libinventory.la libca.la \
	libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(CAIRN_LIBS)
