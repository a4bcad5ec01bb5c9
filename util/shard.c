/* SPDX-License-Identifier: MIT */
/* Serials that carry their CRL shard (crl.shards): the format, shared by ca/ (issuing) and crl/ (building). */
#include "util/util.h"

/*
 * A sharded serial is 16 bytes: SERIAL_SHARD_MARK, the shard count K in force when it
 * was issued (2..255), then 14 bytes from the CSPRNG (112 bits). Its shard is the last
 * 8 bytes as a big-endian integer mod K: chosen by the random bytes, so shards fill
 * evenly, and fixed by the serial, so a later change of crl.shards never moves a
 * certificate away from the CRL its distribution point names.
 */
#define SERIAL_SHARD_MARK 0x5c
#define SERIAL_SHARD_LEN 16

int util_serial_shard(const uint8_t *serial, size_t len, unsigned *k)
{
	uint64_t v = 0;
	size_t i;

	if (serial == NULL || len != SERIAL_SHARD_LEN || serial[0] != SERIAL_SHARD_MARK ||
	    serial[1] < 2)
		return -1;
	for (i = 8; i < SERIAL_SHARD_LEN; i++)
		v = (v << 8) | serial[i];
	if (k != NULL)
		*k = serial[1];
	return (int)(v % serial[1]);
}

int util_serial_sharded(uint8_t serial[16], unsigned k, unsigned *shard)
{
	int s;

	if (k < 2 || k > UTIL_SHARDS_MAX)
		return CAIRN_EINVAL;
	if (util_random(serial, SERIAL_SHARD_LEN) != 0)
		return CAIRN_ECRYPTO;
	serial[0] = SERIAL_SHARD_MARK;
	serial[1] = (uint8_t)k;
	s = util_serial_shard(serial, SERIAL_SHARD_LEN, NULL);
	if (shard != NULL)
		*shard = (unsigned)s;
	return 0;
}
