/* SPDX-License-Identifier: MIT */
/* Test tool: a PKCS#11 module in front of SoftHSM2 whose token can be pulled out and put
 * back, as a network HSM drops off and comes back, so tests can show what the daemon says
 * and does meanwhile. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <pkcs11-helper-1.0/pkcs11h-core.h>

/*
 * Every call goes to the module CAIRN_TEST_TOKEN_MODULE (default SoftHSM2's), except that
 * while the file CAIRN_TEST_TOKEN_OUT exists, C_OpenSession, C_SignInit and C_Sign answer
 * CKR_DEVICE_REMOVED (the token is out). Sessions and logins made before stay as they
 * are, the token comes back as it went; unless the file CAIRN_TEST_TOKEN_OUT.reset
 * exists when it comes back: then it has forgotten the process (C_CloseAllSessions: its
 * sessions are closed, it is logged out, its session objects are gone), as an HSM that
 * was reset.
 */
static CK_FUNCTION_LIST list;
static CK_FUNCTION_LIST_PTR real;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int was_out;
static CK_SLOT_ID slot_seen;

static int out(void)
{
	const char *f = getenv("CAIRN_TEST_TOKEN_OUT");
	char reset[4096];
	int now = f != NULL && access(f, F_OK) == 0;

	pthread_mutex_lock(&lock);
	if (was_out && !now && snprintf(reset, sizeof(reset), "%s.reset", f) < (int)sizeof(reset) &&
	    access(reset, F_OK) == 0)
		real->C_CloseAllSessions(slot_seen);
	was_out = now;
	pthread_mutex_unlock(&lock);
	return now;
}

static CK_RV open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
			  CK_SESSION_HANDLE_PTR s)
{
	pthread_mutex_lock(&lock);
	slot_seen = slot;
	pthread_mutex_unlock(&lock);
	return out() ? CKR_DEVICE_REMOVED : real->C_OpenSession(slot, flags, app, notify, s);
}

static CK_RV sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	return out() ? CKR_DEVICE_REMOVED : real->C_SignInit(s, m, key);
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
		  CK_ULONG_PTR siglen)
{
	return out() ? CKR_DEVICE_REMOVED : real->C_Sign(s, data, len, sig, siglen);
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
		list.C_SignInit = sign_init;
		list.C_Sign = sign;
	}
	*ret = &list;
	return CKR_OK;
}
