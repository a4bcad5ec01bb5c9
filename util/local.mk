noinst_LTLIBRARIES += libutil.la
libutil_la_SOURCES = util/util.h util/err.c util/log.c util/b64.c util/fs.c util/time.c util/reply.c util/later.c util/json.c util/ratelimit.c util/net.c util/csv.c util/shard.c util/pubtree.c util/periodic.c
