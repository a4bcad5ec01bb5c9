/* SPDX-License-Identifier: MIT */
/* Test tool: a PKCS#11 module in front of SoftHSM2 whose token can be pulled out and put
 * back, as a network HSM drops off and comes back, or comes back reset, so tests can
 * show what the daemon says and does meanwhile. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pkcs11-helper-1.0/pkcs11h-core.h>

/*
 * Every call goes to the module CAIRN_TEST_TOKEN_MODULE (default SoftHSM2's), except that
 * while the file CAIRN_TEST_TOKEN_OUT exists, C_OpenSession, C_SignInit and C_Sign answer
 * CKR_DEVICE_REMOVED (the token is out). Sessions and logins made before stay as they
 * are, the token comes back as it went; unless the file CAIRN_TEST_TOKEN_OUT.reset
 * exists when it comes back: then it has forgotten the process (C_CloseAllSessions: its
 * sessions are closed, it is logged out, its session objects are gone), as an HSM that
 * was reset. SoftHSM2 runs in the process, and closing a session another thread is using
 * frees what that thread reads: the calls made at run time hold a read lock, the reset
 * the write lock.
 */
static CK_FUNCTION_LIST list;
static CK_FUNCTION_LIST_PTR real;
static pthread_rwlock_t calls = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* was_out, slot_seen */
static int was_out;
static CK_SLOT_ID slot_seen;

/* Whether the token is out now; resets it when it comes back reset. */
static int out(void)
{
	const char *f = getenv("CAIRN_TEST_TOKEN_OUT");
	char reset[4096];
	int now = f != NULL && access(f, F_OK) == 0, back;

	pthread_mutex_lock(&lock);
	back = was_out && !now;
	was_out = now;
	pthread_mutex_unlock(&lock);
	if (back && snprintf(reset, sizeof(reset), "%s.reset", f) < (int)sizeof(reset) &&
	    access(reset, F_OK) == 0) {
		pthread_rwlock_wrlock(&calls);
		real->C_CloseAllSessions(slot_seen);
		pthread_rwlock_unlock(&calls);
	}
	return now;
}

/*
 * While the file CAIRN_TEST_TOKEN_HANG exists, every call waits before it goes on (a
 * network HSM whose link died without a reset: its calls neither answer nor fail); they
 * go on once the file is gone. nanosleep, not sleep(): a test may speed the clock up.
 * A call that waits creates the file CAIRN_TEST_TOKEN_WAITING (when set): a test knows
 * then that a request reached the token and holds there.
 */
static void hang_while_asked(void)
{
	const char *f = getenv("CAIRN_TEST_TOKEN_HANG");
	const char *waiting = getenv("CAIRN_TEST_TOKEN_WAITING");
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	FILE *w;

	if (f != NULL && waiting != NULL && access(f, F_OK) == 0 &&
	    (w = fopen(waiting, "w")) != NULL)
		fclose(w);
	while (f != NULL && access(f, F_OK) == 0)
		nanosleep(&ts, NULL);
}

/*
 * While the file CAIRN_TEST_TOKEN_HOLD_NEW exists, a lookup (C_FindObjectsInit) of a key
 * by a label this process generated (C_GenerateKeyPair) waits, and only that: a test
 * holds the daemon between recording a renewal's certificate and switching to its new
 * key, a window of milliseconds otherwise. CAIRN_TEST_TOKEN_WAITING is created as above.
 */
#define HOLD_LABELS 16
static char held[HOLD_LABELS][64]; /* under lock */
static size_t n_held;

static void remember_label(CK_ATTRIBUTE_PTR a, CK_ULONG n)
{
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if (a[i].type == CKA_LABEL && a[i].ulValueLen < sizeof(held[0])) {
			pthread_mutex_lock(&lock);
			memcpy(held[n_held % HOLD_LABELS], a[i].pValue, a[i].ulValueLen);
			held[n_held % HOLD_LABELS][a[i].ulValueLen] = '\0';
			n_held++;
			pthread_mutex_unlock(&lock);
			return;
		}
}

static void hold_new_key(CK_ATTRIBUTE_PTR a, CK_ULONG n)
{
	const char *f = getenv("CAIRN_TEST_TOKEN_HOLD_NEW");
	const char *waiting = getenv("CAIRN_TEST_TOKEN_WAITING");
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	CK_ULONG i;
	size_t k;
	int ours = 0;
	FILE *w;

	if (f == NULL || access(f, F_OK) != 0)
		return;
	pthread_mutex_lock(&lock);
	for (i = 0; i < n; i++)
		for (k = 0; a[i].type == CKA_LABEL && k < n_held && k < HOLD_LABELS; k++)
			ours |= a[i].ulValueLen == strlen(held[k]) &&
				memcmp(a[i].pValue, held[k], a[i].ulValueLen) == 0;
	pthread_mutex_unlock(&lock);
	if (!ours)
		return;
	if (waiting != NULL && (w = fopen(waiting, "w")) != NULL)
		fclose(w);
	while (access(f, F_OK) == 0)
		nanosleep(&ts, NULL);
}

/* A call forwarded under the read lock; OUT: refused while the token is out. */
#define CALL(out_refuses, expr)                                    \
	do {                                                       \
		CK_RV rv_;                                         \
		hang_while_asked();                                \
		if (out() && (out_refuses))                        \
			return CKR_DEVICE_REMOVED;                 \
		pthread_rwlock_rdlock(&calls);                     \
		rv_ = (expr);                                      \
		pthread_rwlock_unlock(&calls);                     \
		return rv_;                                        \
	} while (0)

static CK_RV open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
			  CK_SESSION_HANDLE_PTR s)
{
	pthread_mutex_lock(&lock);
	slot_seen = slot;
	pthread_mutex_unlock(&lock);
	CALL(1, real->C_OpenSession(slot, flags, app, notify, s));
}

static CK_RV sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	CALL(1, real->C_SignInit(s, m, key));
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
		  CK_ULONG_PTR siglen)
{
	CALL(1, real->C_Sign(s, data, len, sig, siglen));
}

static CK_RV close_session(CK_SESSION_HANDLE s)
{
	CALL(0, real->C_CloseSession(s));
}

static CK_RV login(CK_SESSION_HANDLE s, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	CALL(0, real->C_Login(s, who, pin, len));
}

static CK_RV session_info(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	CALL(0, real->C_GetSessionInfo(s, info));
}

static CK_RV get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR a, CK_ULONG n)
{
	CALL(0, real->C_GetAttributeValue(s, o, a, n));
}

static CK_RV find_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR a, CK_ULONG n)
{
	hold_new_key(a, n);
	CALL(0, real->C_FindObjectsInit(s, a, n));
}

static CK_RV generate_key_pair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub,
			       CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
			       CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	remember_label(priv, npriv);
	CALL(0, real->C_GenerateKeyPair(s, m, pub, npub, priv, npriv, hpub, hpriv));
}

static CK_RV find(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max, CK_ULONG_PTR n)
{
	CALL(0, real->C_FindObjects(s, o, max, n));
}

static CK_RV find_final(CK_SESSION_HANDLE s)
{
	CALL(0, real->C_FindObjectsFinal(s));
}

static CK_RV copy_object(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR a, CK_ULONG n,
			 CK_OBJECT_HANDLE_PTR copy)
{
	CALL(0, real->C_CopyObject(s, o, a, n, copy));
}

static CK_RV destroy_object(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
	CALL(0, real->C_DestroyObject(s, o));
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
	if (real == NULL) {
		const char *path = getenv("CAIRN_TEST_TOKEN_MODULE");
		void *dl = dlopen(path != NULL ? path : "/usr/lib/softhsm/libsofthsm2.so",
				  RTLD_NOW | RTLD_LOCAL);
		CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);

		if (dl == NULL || (*(void **)&get = dlsym(dl, "C_GetFunctionList")) == NULL ||
		    get(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		list = *real;
		list.C_GetFunctionList = C_GetFunctionList;
		list.C_OpenSession = open_session;
		list.C_CloseSession = close_session;
		list.C_Login = login;
		list.C_GetSessionInfo = session_info;
		list.C_GetAttributeValue = get_attr;
		list.C_FindObjectsInit = find_init;
		list.C_FindObjects = find;
		list.C_FindObjectsFinal = find_final;
		list.C_GenerateKeyPair = generate_key_pair;
		list.C_CopyObject = copy_object;
		list.C_DestroyObject = destroy_object;
		list.C_SignInit = sign_init;
		list.C_Sign = sign;
	}
	*ret = &list;
	return CKR_OK;
}
