/* SPDX-License-Identifier: MIT */
/* hsm life cycle: token creation, open (pkcs11-helper loads the module and logs in once), close. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "hsm/hsm_int.h"

/*
 * How pkcs11-helper and the raw function list share the module
 * --------------------------------------------------------------
 * pkcs11-helper owns the provider: it loads the module, calls C_Initialize,
 * enumerates tokens and performs the one and only C_Login (pkcs11h_token_login
 * with cfg->pin). Its own signing path serialises everything on one session
 * per token (STACK-NOTES.md), so signatures do not go through it: we take a
 * second reference on the already loaded module (dlopen RTLD_NOLOAD), fetch the
 * same function list and open a pool of extra sessions. PKCS#11 login state
 * belongs to the application, not to a session, so every pooled session is
 * logged in through pkcs11-helper's login (checked in hsm_open).
 *
 * Two details make this safe:
 *  - pkcs11-helper calls C_Initialize(NULL) by default, which tells SoftHSM that
 *    no thread will ever call it concurrently (SoftHSM then disables its
 *    mutexes). We hand it CKF_OS_LOCKING_OK through PKCS11H_PROVIDER_PROPERTY_INIT_ARGS.
 *  - The login uses pkcs11h_token_login, not the PIN prompt hook:
 *    pkcs11h_token_ensureAccess (1.29) only locates the token and never logs in;
 *    the hook only fires inside pkcs11-helper's certificate/data operations,
 *    which we do not use and which could log in again (SoftHSM rewrites its
 *    token file at every login). The default hooks refuse to prompt, so no
 *    second login can happen behind our back.
 *
 * pkcs11-helper keeps global state, so one hsm_t may be open per process.
 */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_open; /* an hsm_t exists: pkcs11-helper is initialised */

#define HSM_PROVIDER "cairn"

static CK_C_INITIALIZE_ARGS g_init_args = { .flags = CKF_OS_LOCKING_OK };

int hsm_key_type_parse(const char *s, hsm_key_type_t *out)
{
	static const struct {
		const char *name;
		hsm_key_type_t type;
	} names[] = {
		{ "p256", HSM_KEY_EC_P256 },	{ "ec-p256", HSM_KEY_EC_P256 },
		{ "p384", HSM_KEY_EC_P384 },	{ "ec-p384", HSM_KEY_EC_P384 },
		{ "rsa3072", HSM_KEY_RSA_3072 }, { "rsa-3072", HSM_KEY_RSA_3072 },
	};
	size_t i;

	if (s == NULL || out == NULL)
		return CAIRN_EINVAL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].type;
			return 0;
		}
	}
	return CAIRN_EINVAL;
}

const char *hsm_key_type_name(hsm_key_type_t t)
{
	switch (t) {
	case HSM_KEY_EC_P256:
		return "p256";
	case HSM_KEY_EC_P384:
		return "p384";
	case HSM_KEY_RSA_3072:
		return "rsa3072";
	}
	return "unknown";
}

const char *hsm_ckr_name(CK_RV rv)
{
	const char *s = pkcs11h_getMessage(rv);
	return strncmp(s, "CKR_", 4) == 0 ? s : "unknown";
}

/* A fixed-width, space-padded PKCS#11 string equals the C string s. */
static int label_eq(const CK_UTF8CHAR *fixed, size_t width, const char *s)
{
	size_t n = strlen(s), i;

	if (n > width || memcmp(fixed, s, n) != 0)
		return 0;
	for (i = n; i < width; i++)
		if (fixed[i] != ' ')
			return 0;
	return 1;
}

static int login_error(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		return CAIRN_ELOGIN;
	default:
		return CAIRN_EPKCS11;
	}
}

/* Loads the module with dlopen flags and returns its function list. */
static int module_load(const char *path, int flags, void **dl, CK_FUNCTION_LIST_PTR *fl,
		       cairn_err_t *err)
{
	CK_C_GetFunctionList gfl;
	void *sym;
	CK_RV rv;

	*dl = dlopen(path, flags);
	if (*dl == NULL)
		return cairn_err_set(err, CAIRN_EPKCS11, "cannot load PKCS#11 module %s: %s", path,
				     dlerror());
	sym = dlsym(*dl, "C_GetFunctionList");
	if (sym == NULL) {
		dlclose(*dl);
		*dl = NULL;
		return cairn_err_set(err, CAIRN_EPKCS11, "%s has no C_GetFunctionList", path);
	}
	memcpy(&gfl, &sym, sizeof(gfl));
	rv = gfl(fl);
	if (rv != CKR_OK) {
		dlclose(*dl);
		*dl = NULL;
		return cairn_err_set(err, CAIRN_EPKCS11, "C_GetFunctionList: %s (0x%lx)",
				     hsm_ckr_name(rv), (unsigned long)rv);
	}
	return 0;
}

/* Slot holding the initialised token with that label (and serial, if given). */
static int slot_find(CK_FUNCTION_LIST_PTR fl, const char *label, const char *serial,
		     CK_SLOT_ID *slot, CK_SLOT_ID *free_slot, int *have_free, cairn_err_t *err)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_RV rv;
	int ret = CAIRN_ETOKEN;

	if (have_free != NULL)
		*have_free = 0;

	rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		slots = calloc(n, sizeof(*slots));
		if (slots == NULL)
			return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		rv = fl->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		ret = cairn_err_set(err, CAIRN_EPKCS11, "C_GetSlotList: %s (0x%lx)",
				    hsm_ckr_name(rv), (unsigned long)rv);
		goto out;
	}
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			if (have_free != NULL && !*have_free) {
				*free_slot = slots[i];
				*have_free = 1;
			}
			continue;
		}
		if (!label_eq(ti.label, sizeof(ti.label), label))
			continue;
		if (serial != NULL && !label_eq(ti.serialNumber, sizeof(ti.serialNumber), serial))
			continue;
		*slot = slots[i];
		ret = 0;
		goto out;
	}
	ret = cairn_err_set(err, CAIRN_ETOKEN, "no token labelled \"%s\"", label);
out:
	free(slots);
	return ret;
}

int hsm_conf_export(const char *path)
{
	const char *now = getenv("SOFTHSM2_CONF");

	if (path == NULL || (now != NULL && strcmp(now, path) == 0))
		return 0;
	return setenv("SOFTHSM2_CONF", path, 1) == 0 ? 0 : CAIRN_ENOMEM;
}

int hsm_token_create(const hsm_config_t *cfg, const char *so_pin, cairn_err_t *err)
{
	CK_FUNCTION_LIST_PTR fl = NULL;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_SLOT_ID slot = 0, free_slot = 0;
	CK_UTF8CHAR label[32];
	void *dl = NULL;
	int ret, own_init = 0, so_in = 0, have_free = 0;
	const char *step;
	CK_RV rv;

	if (cfg == NULL || cfg->module == NULL || cfg->token_label == NULL || cfg->pin == NULL ||
	    so_pin == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "token create: missing module, label or PIN");
	if (strlen(cfg->token_label) == 0 || strlen(cfg->token_label) > sizeof(label))
		return cairn_err_set(err, CAIRN_EINVAL, "token label must be 1 to 32 bytes");

	pthread_mutex_lock(&g_lock);
	if (hsm_conf_export(cfg->softhsm_conf) != 0) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	ret = module_load(cfg->module, RTLD_NOW | RTLD_LOCAL, &dl, &fl, err);
	if (ret != 0)
		goto out;
	rv = fl->C_Initialize(&g_init_args);
	ERR_clear_error();
	if (rv == CKR_OK)
		own_init = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		step = "C_Initialize";
		goto fail;
	}

	ret = slot_find(fl, cfg->token_label, NULL, &slot, &free_slot, &have_free, err);
	if (ret == 0) {
		ret = cairn_err_set(err, CAIRN_EEXIST, "a token labelled \"%s\" exists",
				    cfg->token_label);
		goto out;
	}
	if (ret != CAIRN_ETOKEN)
		goto out;
	if (!have_free) {
		ret = cairn_err_set(err, CAIRN_ETOKEN, "no free slot for token \"%s\"",
				    cfg->token_label);
		goto out;
	}

	memset(label, ' ', sizeof(label));
	memcpy(label, cfg->token_label, strlen(cfg->token_label));
	rv = fl->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label);
	if (rv != CKR_OK) {
		step = "C_InitToken";
		goto fail;
	}
	/* SoftHSM moves a freshly initialised token to a new slot id: find it again. */
	ret = slot_find(fl, cfg->token_label, NULL, &slot, NULL, NULL, err);
	if (ret != 0)
		goto out;
	rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		step = "C_OpenSession";
		goto fail;
	}
	rv = fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
	if (rv != CKR_OK) {
		step = "C_Login(SO)";
		goto fail;
	}
	so_in = 1;
	rv = fl->C_InitPIN(s, (CK_UTF8CHAR_PTR)cfg->pin, strlen(cfg->pin));
	if (rv != CKR_OK) {
		step = "C_InitPIN";
		goto fail;
	}
	ret = 0;
	goto out;
fail:
	ret = cairn_err_set(err, CAIRN_EPKCS11, "token create: %s: %s (0x%lx)", step,
			    hsm_ckr_name(rv), (unsigned long)rv);
out:
	if (so_in)
		fl->C_Logout(s);
	if (s != CK_INVALID_HANDLE)
		fl->C_CloseSession(s);
	if (own_init)
		fl->C_Finalize(NULL);
	if (dl != NULL)
		dlclose(dl);
	ERR_clear_error();
	pthread_mutex_unlock(&g_lock);
	return ret;
}

/* Registers and initialises the provider in pkcs11-helper. */
static int provider_add(const char *module, cairn_err_t *err)
{
	CK_C_INITIALIZE_ARGS_PTR args = &g_init_args;
	PKCS11H_BOOL no = FALSE;
	const char *step;
	CK_RV rv;

	step = "pkcs11h_registerProvider";
	rv = pkcs11h_registerProvider(HSM_PROVIDER);
	if (rv != CKR_OK)
		goto fail;
	step = "provider location";
	rv = pkcs11h_setProviderProperty(HSM_PROVIDER, PKCS11H_PROVIDER_PROPERTY_LOCATION, module,
					 strlen(module) + 1);
	if (rv == CKR_OK)
		rv = pkcs11h_setProviderProperty(HSM_PROVIDER, PKCS11H_PROVIDER_PROPERTY_INIT_ARGS,
						 &args, sizeof(args));
	if (rv == CKR_OK)
		rv = pkcs11h_setProviderProperty(HSM_PROVIDER,
						 PKCS11H_PROVIDER_PROPERTY_ALLOW_PROTECTED_AUTH, &no,
						 sizeof(no));
	if (rv != CKR_OK)
		goto fail;
	step = "pkcs11h_initializeProvider";
	rv = pkcs11h_initializeProvider(HSM_PROVIDER);
	ERR_clear_error();
	if (rv != CKR_OK)
		goto fail;
	return 0;
fail:
	return cairn_err_set(err, CAIRN_EPKCS11, "%s (module %s): %s (0x%lx)", step, module,
			     hsm_ckr_name(rv), (unsigned long)rv);
}

/* pkcs11-helper's id of the token with that label. */
static int token_id_find(const char *label, pkcs11h_token_id_t *out, cairn_err_t *err)
{
	pkcs11h_token_id_list_t list = NULL, it;
	CK_RV rv;
	int ret;

	rv = pkcs11h_token_enumTokenIds(PKCS11H_ENUM_METHOD_RELOAD, &list);
	if (rv != CKR_OK)
		return cairn_err_set(err, CAIRN_EPKCS11, "pkcs11h_token_enumTokenIds: %s (0x%lx)",
				     hsm_ckr_name(rv), (unsigned long)rv);
	ret = CAIRN_ETOKEN;
	for (it = list; it != NULL; it = it->next) {
		if (strcmp(it->token_id->label, label) == 0) {
			rv = pkcs11h_token_duplicateTokenId(out, it->token_id);
			ret = rv == CKR_OK ? 0 : CAIRN_ENOMEM;
			break;
		}
	}
	pkcs11h_token_freeTokenIdList(list);
	if (ret == CAIRN_ETOKEN)
		cairn_err_set(err, ret, "no token labelled \"%s\"", label);
	else if (ret != 0)
		cairn_err_set(err, ret, "out of memory");
	return ret;
}

/* The PIN copy kept for relogins, wiped. NULL is fine. */
static void pin_free(char *pin)
{
	if (pin != NULL) {
		OPENSSL_cleanse(pin, strlen(pin));
		free(pin);
	}
}

/* What hsm_open does in the token: the module loaded through pkcs11-helper (*helper set
 * once it is initialised), the token found and logged in to, the first pooled session
 * checked, the keeper session opened. */
static int token_open(hsm_t *h, const char *module, const char *label, int *helper,
		      cairn_err_t *err)
{
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;
	int ret;
	CK_RV rv;

	rv = pkcs11h_initialize();
	if (rv != CKR_OK)
		return cairn_err_set(err, CAIRN_EPKCS11, "pkcs11h_initialize: %s (0x%lx)",
				     hsm_ckr_name(rv), (unsigned long)rv);
	*helper = 1;
	pkcs11h_setPINCachePeriod(PKCS11H_PIN_CACHE_INFINITE);
	pkcs11h_setProtectedAuthentication(FALSE);
	if ((ret = provider_add(module, err)) != 0)
		return ret;
	/* A second reference on the module pkcs11-helper just loaded, for the pool. */
	if ((ret = module_load(module, RTLD_NOW | RTLD_NOLOAD, &h->dl, &h->fl, err)) != 0 ||
	    (ret = token_id_find(label, &h->token_id, err)) != 0)
		return ret;
	rv = pkcs11h_token_login(h->token_id, FALSE, h->pin);
	if (rv != CKR_OK)
		return cairn_err_set(err, login_error(rv), "login to token \"%s\": %s (0x%lx)",
				     label, hsm_ckr_name(rv), (unsigned long)rv);
	if ((ret = slot_find(h->fl, label, h->token_id->serialNumber, &h->slot, NULL, NULL,
			     err)) != 0)
		return ret;

	/* The first pooled session must see pkcs11-helper's login. */
	rv = hsm_session_take(h, &s);
	if (rv != CKR_OK)
		return cairn_err_set(err, CAIRN_EPKCS11, "C_OpenSession: %s (0x%lx)",
				     hsm_ckr_name(rv), (unsigned long)rv);
	memset(&si, 0, sizeof(si));
	rv = h->fl->C_GetSessionInfo(s, &si);
	hsm_session_give(h, s, rv != CKR_OK);
	if (rv != CKR_OK || si.state != CKS_RW_USER_FUNCTIONS)
		return cairn_err_set(err, CAIRN_EPKCS11,
				     "pooled session not logged in (C_GetSessionInfo: %s, state %lu)",
				     hsm_ckr_name(rv), (unsigned long)si.state);
	/* The keeper session (hsm_int.h); without one, signing uses the token objects. */
	h->have_keeper = h->fl->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
					      NULL, &h->keeper) == CKR_OK;
	return 0;
}

/* token_open as a job of the signers (hsm_call): a token that does not answer holds the
 * start at most token.timeout. Its own copies of the module path and the label. */
typedef struct {
	int ret;
	int helper;
	cairn_err_t err;
	size_t label_at; /* the label's offset in names */
	char names[];    /* module, NUL, label, NUL */
} open_arg_t;

static CK_RV open_run(hsm_t *h, void *arg)
{
	open_arg_t *a = arg;

	a->ret = token_open(h, a->names, a->names + a->label_at, &a->helper, &a->err);
	return CKR_OK;
}

int hsm_open(const hsm_config_t *cfg, hsm_t **out, cairn_err_t *err)
{
	hsm_t *h = NULL;
	open_arg_t *a = NULL;
	size_t mlen, llen;
	int ret, helper = 0;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || out == NULL || cfg->module == NULL || cfg->token_label == NULL ||
	    cfg->pin == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "hsm open: missing module, label or PIN");

	pthread_mutex_lock(&g_lock);
	if (g_open) {
		pthread_mutex_unlock(&g_lock);
		return cairn_err_set(err, CAIRN_EBUSY,
				     "hsm open: a token is already open in this process");
	}
	mlen = strlen(cfg->module);
	llen = strlen(cfg->token_label);
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	pthread_mutex_init(&h->keygen_lock, NULL);
	pthread_mutex_init(&h->lookup_lock, NULL);
	pthread_mutex_init(&h->fail_lock, NULL);
	pthread_mutex_init(&h->relogin_lock, NULL);
	hsm_signers_init(h, cfg->timeout_ms);
	if ((h->pin = strdup(cfg->pin)) == NULL ||
	    (a = calloc(1, sizeof(*a) + mlen + llen + 2)) == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}

	if (hsm_conf_export(cfg->softhsm_conf) != 0) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(a->names, cfg->module, mlen + 1);
	a->label_at = mlen + 1;
	memcpy(a->names + a->label_at, cfg->token_label, llen + 1);
	if (hsm_call(h, open_run, a, sizeof(*a) + mlen + llen + 2, NULL) != CKR_OK) {
		/* A signer waits in the token with h: h, the module and pkcs11-helper stay as
		 * they are for the rest of the process, which opens no other token. */
		ret = cairn_err_set(err, CAIRN_ETOKENDOWN, "opening token \"%s\" with %s: %s",
				    cfg->token_label, cfg->module, hsm_sign_why_get());
		g_open = 1;
		h = NULL;
		goto out;
	}
	helper = a->helper;
	if ((ret = a->ret) != 0) {
		if (err != NULL)
			*err = a->err;
		goto out;
	}
	g_open = 1;
	*out = h;
	h = NULL;
	ret = 0;
out:
	if (h != NULL) {
		(void)hsm_signers_stop(h); /* the one that opened it came back */
		if (h->fl != NULL)
			hsm_pool_close_idle(h);
		if (h->token_id != NULL)
			pkcs11h_token_freeTokenId(h->token_id);
		if (helper) {
			pkcs11h_logout();
			pkcs11h_terminate();
		}
		if (h->dl != NULL)
			dlclose(h->dl);
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->keygen_lock);
		pthread_mutex_destroy(&h->lookup_lock);
		pthread_mutex_destroy(&h->fail_lock);
		pthread_mutex_destroy(&h->relogin_lock);
		pin_free(h->pin);
		free(h);
	}
	free(a);
	ERR_clear_error();
	pthread_mutex_unlock(&g_lock);
	return ret;
}

/* The token calls of hsm_close, made like every other (hsm_call). */
static CK_RV close_run(hsm_t *h, void *unused)
{
	(void)unused;
	hsm_pool_close_idle(h);
	if (h->have_keeper)
		h->fl->C_CloseSession(h->keeper); /* destroys the session copies */
	pkcs11h_token_freeTokenId(h->token_id);
	pkcs11h_logout(); /* C_Logout + C_CloseSession on pkcs11-helper's session */
	pkcs11h_terminate(); /* C_Finalize, unloads its reference */
	return CKR_OK;
}

void hsm_close(hsm_t *h)
{
	hsm_key_ent_t *k, *next;
	int unused = 0;

	if (h == NULL)
		return;
	pthread_mutex_lock(&g_lock);
	/* A signer still in a token that does not answer uses h and the module: both stay as
	 * they are for the rest of the process (a close that would call it again too). */
	if (hsm_signers_calm(h) != 0 ||
	    hsm_call(h, close_run, &unused, sizeof(unused), NULL) != CKR_OK) {
		(void)hsm_signers_stop(h);
		pthread_mutex_unlock(&g_lock);
		return;
	}
	if (hsm_signers_stop(h) != 0) {
		pthread_mutex_unlock(&g_lock);
		return;
	}
	dlclose(h->dl);
	for (k = h->keys; k != NULL; k = next) {
		next = k->next;
		free(k->label);
		free(k);
	}
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->keygen_lock);
	pthread_mutex_destroy(&h->lookup_lock);
	pthread_mutex_destroy(&h->fail_lock);
	pthread_mutex_destroy(&h->relogin_lock);
	pin_free(h->pin);
	free(h);
	g_open = 0;
	ERR_clear_error();
	pthread_mutex_unlock(&g_lock);
}
