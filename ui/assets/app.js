// SPDX-License-Identifier: MIT
// cairn console: one page, hash routes, talks to /admin/v1 only. Every value from the
// server reaches the page through textContent or attributes set by DOM calls, never as HTML.
'use strict';

const API = '/admin/v1';
// nav counts the pages asked for: a page whose data arrives after the user (or a
// sign-out) moved on is dropped rather than drawn over the page now shown.
const state = { me: null, csrf: null, nav: 0 };
const ROLES = {
	decide: ['admin', 'approver', 'operator'],
	revoke: ['admin', 'operator'],
	issue: ['admin', 'operator'],
	audit: ['admin', 'auditor'],
	admin: ['admin'],
};
const can = (what) => state.me !== null && ROLES[what].includes(state.me.role);

// ---- DOM helpers ----
function el(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
		else if (k === 'text') e.textContent = String(v);
		else e.setAttribute(k, v === true ? '' : String(v));
	}
	for (const k of kids.flat(Infinity)) {
		if (k === null || k === undefined || k === false) continue;
		e.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return e;
}
const $ = (id) => document.getElementById(id);
const main = () => $('main');
let uid = 0;
// A labelled field: <label>text <input id=..></label>.
function field(text, input) {
	if (!input.id) input.id = 'f' + (++uid);
	return el('label', { for: input.id }, text, input);
}
function table(cols, rows) {
	return el('div', { class: 'table-wrap' }, el('table', {},
		el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col' }, c)))),
		el('tbody', {}, rows.length ? rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))
			: el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, 'nothing here')))));
}
function dl(pairs) {
	return el('dl', {}, pairs.filter((p) => p).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}
const status = (s) => el('span', { class: 'st-' + s }, s);
const when = (t) => (typeof t === 'number' ? new Date(t * 1000).toISOString().replace('.000', '') : (t || ''));
const link = (href, text) => el('a', { href }, text);
function showError(msg) {
	const box = $('error');
	box.textContent = msg || '';
	box.hidden = !msg;
}
// Downloads text as a file (a Blob URL: nothing leaves the page).
function download(name, text, type) {
	const url = URL.createObjectURL(new Blob([text], { type: type || 'application/octet-stream' }));
	const a = el('a', { href: url, download: name });
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- the API ----
class ApiError extends Error {
	constructor(status, problem) {
		super((problem && (problem.detail || problem.title)) || ('HTTP ' + status));
		this.status = status;
		this.problem = problem;
	}
}
async function api(method, path, body, extra) {
	const headers = Object.assign({}, extra || {});
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
	const r = await fetch(API + path, {
		method, headers, credentials: 'same-origin', cache: 'no-store',
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const type = r.headers.get('Content-Type') || '';
	// JSON answers and problem documents are parsed; exports (JSONL, CSV) stay text.
	const data = /^application\/(problem\+)?json\b/.test(type) ? await r.json().catch(() => null) : await r.text();
	if (!r.ok) {
		if (r.status === 401 && path !== '/session') { signedOut('Your session ended: sign in again.'); }
		throw new ApiError(r.status, typeof data === 'object' ? data : null);
	}
	return data;
}
// Runs an action, showing a problem document's detail when it fails.
async function attempt(fn) {
	showError('');
	try { return await fn(); } catch (e) { showError(e.message); return undefined; }
}
const qs = (o) => {
	const p = new URLSearchParams();
	for (const [k, v] of Object.entries(o)) if (v !== '' && v !== null && v !== undefined) p.set(k, v);
	const s = p.toString();
	return s ? '?' + s : '';
};

// ---- sign-in ----
function signedOut(msg) {
	state.me = null;
	state.csrf = null;
	$('nav').hidden = true;
	$('signout').hidden = true;
	$('who').textContent = '';
	renderSignIn(msg);
}
function renderSignIn(msg, certName) {
	const token = el('input', { type: 'password', autocomplete: 'off', required: true, name: 'token' });
	const form = el('form', { id: 'signin-form', on: { submit: async (ev) => {
		ev.preventDefault();
		await signIn({ Authorization: 'Bearer ' + token.value.trim() });
		token.value = '';
	} } }, field('API token', token), el('button', { type: 'submit', id: 'signin' }, 'Sign in'));
	const cert = certName ? el('div', {},
		el('p', {}, 'Your browser presented the admin certificate of ', el('strong', {}, certName), '.'),
		el('button', { type: 'button', id: 'signin-cert', on: { click: () => signIn({}) } },
			'Sign in with this certificate')) : null;
	state.nav++;
	main().replaceChildren(el('section', { class: 'signin' }, el('h1', {}, 'Sign in'),
		msg ? el('p', { class: 'muted', id: 'signin-msg' }, msg) : null, cert, cert ? el('h2', {}, 'Or with a token') : null, form));
	token.focus();
}
async function signIn(headers) {
	const s = await attempt(() => api('POST', '/session', undefined, headers));
	if (s) await start(s);
}
async function signOut() {
	await attempt(() => api('DELETE', '/session'));
	signedOut('Signed out.');
}

const PAGES = [
	['dashboard', 'Dashboard', null],
	['approvals', 'Approvals', null],
	['certificates', 'Certificates', null],
	['request', 'Request', 'issue'],
	['audit', 'Audit', 'audit'],
	['admin', 'Administration', 'admin'],
];
async function start(s) {
	state.me = s;
	state.csrf = s.csrf_token;
	$('who').textContent = s.name + ' (' + s.role + ')';
	$('nav').replaceChildren(...PAGES.filter(([, , r]) => !r || can(r))
		.map(([id, text]) => el('a', { href: '#/' + id, 'data-page': id }, text)));
	$('nav').hidden = false;
	$('signout').hidden = false;
	await route();
}

// ---- routing ----
// A view's way to draw itself: taken before the view's first await, it draws only while
// that view is still the page asked for last.
function screen() {
	const nav = state.nav;
	return (...kids) => { if (nav === state.nav) main().replaceChildren(...kids); };
}

async function route() {
	if (!state.me) return;
	const [path, query] = (location.hash.slice(1) || '/dashboard').split('?');
	const parts = path.split('/').filter(Boolean);
	const params = new URLSearchParams(query || '');
	for (const a of $('nav').children) {
		if (a.dataset.page === parts[0]) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
	showError('');
	const view = VIEWS[parts[0]] || VIEWS.dashboard;
	const nav = ++state.nav;
	main().replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
	try {
		await view(parts.slice(1).map(decodeURIComponent), params);
	} catch (e) {
		if (nav !== state.nav) return;
		main().replaceChildren(el('h1', {}, 'Could not load this page'));
		showError(e.message);
	}
	if (nav !== state.nav) return;
	main().focus({ preventScroll: true });
	window.scrollTo(0, 0);
}

// ---- dashboard ----
function timeline(stats) {
	const NS = 'http://www.w3.org/2000/svg';
	const days = stats.expiring.per_day, W = 900, H = 180, pad = 24;
	const max = Math.max(1, ...days);
	const bw = (W - pad) / days.length;
	const svg = document.createElementNS(NS, 'svg');
	svg.setAttribute('viewBox', `0 0 ${W} ${H + 20}`);
	svg.setAttribute('class', 'timeline');
	svg.setAttribute('role', 'img');
	const total = days.reduce((a, b) => a + b, 0);
	const title = document.createElementNS(NS, 'title');
	title.textContent = `${total} certificates expire by the end of day +${days.length - 1}`;
	svg.append(title);
	days.forEach((n, i) => {
		if (!n) return;
		const h = Math.max(2, (n / max) * (H - 10));
		const r = document.createElementNS(NS, 'rect');
		r.setAttribute('x', String(pad + i * bw + 1));
		r.setAttribute('y', String(H - h));
		r.setAttribute('width', String(Math.max(1, bw - 2)));
		r.setAttribute('height', String(h));
		const t = document.createElementNS(NS, 'title');
		t.textContent = `day ${i}: ${n}`;
		r.append(t);
		svg.append(r);
	});
	for (const d of [0, 30, 60, days.length - 1]) {
		const t = document.createElementNS(NS, 'text');
		t.setAttribute('x', String(pad + d * bw));
		t.setAttribute('y', String(H + 14));
		t.textContent = d === 0 ? 'today' : `+${d}d`;
		svg.append(t);
	}
	const m = document.createElementNS(NS, 'text');
	m.setAttribute('x', '2');
	m.setAttribute('y', '12');
	m.textContent = String(max);
	svg.append(m);
	return svg;
}
async function health() {
	const r = await fetch('/healthz', { cache: 'no-store', credentials: 'same-origin' });
	return r.json();
}
// The expiry gauges of /metrics: [[what, name, unix seconds]] for the CA certificates
// (root, issuing CAs), the daemon's other certificates (OCSP signer, HTTPS) and each CRL's
// nextUpdate; out.disk the free and whole bytes of the disk holding the database.
const MATERIAL = { ca_not_after: 'CA certificate', cert_not_after: 'certificate', crl_next_update: 'CRL' };
async function material() {
	const r = await fetch('/metrics', { cache: 'no-store', credentials: 'same-origin' });
	const out = [];
	const re = /^cairn_(ca_not_after|cert_not_after|crl_next_update)_timestamp_seconds\{(?:ca|cert|issuer)="([^"]*)"\} (\d+)$/;
	const disk = /^cairn_disk_(free|size)_bytes (\d+)$/;
	out.disk = {};
	for (const line of (await r.text()).split('\n')) {
		const m = re.exec(line), d = disk.exec(line);
		if (m) out.push([MATERIAL[m[1]], m[2], Number(m[3])]);
		if (d) out.disk[d[1]] = Number(d[2]);
	}
	return out;
}
const bytes = (n) => (n >= 1 << 30 ? (n / 2 ** 30).toFixed(1) + ' GiB' : (n / 2 ** 20).toFixed(1) + ' MiB');
// What a health problem adds to what, state and at: why writes fail, the disk's free
// space, the latest failure.
function problemDetail(p) {
	const out = [];
	if (p.detail) out.push(p.detail);
	if (typeof p.free_bytes === 'number') out.push(bytes(p.free_bytes) + ' free');
	if (p.latest) out.push('latest ' + p.latest + (p.still_failing ? '' : ', commits succeed again'));
	return out.join('; ');
}
const VIEWS = {
	async dashboard() {
		const show = screen();
		const [stats, pending, h, mat] = await Promise.all([api('GET', '/stats'),
			api('GET', '/requests?status=pending&limit=10'), health(), material().catch(() => [])]);
		const cards = [['valid', 'Valid'], ['expired', 'Expired'], ['revoked', 'Revoked']]
			.map(([k, l]) => el('div', { class: 'card' }, el('div', { class: 'n', id: 'count-' + k }, stats.status[k]), el('div', { class: 'l' }, l)));
		cards.push(el('div', { class: 'card' }, el('div', { class: 'n', id: 'count-pending' }, pending.total), el('div', { class: 'l' }, 'Pending approval')));
		const probs = h.problems || [];
		show(el('h1', {}, 'Dashboard'),
			el('div', { class: 'cards' }, cards),
			el('h2', {}, 'Expiring in the next 90 days'), timeline(stats),
			el('h2', {}, 'By profile'),
			table(['Profile', 'Certificates'], Object.entries(stats.profiles).map(([p, n]) =>
				[link('#/certificates?profile=' + encodeURIComponent(p), p), n])),
			el('h2', {}, 'Pending approvals'),
			table(['Request', 'Subject', 'Profile', 'Requester', 'Approvals'], pending.items.map((r) =>
				[link('#/approvals/' + r.id, r.id.slice(0, 12)), r.subject || '', r.profile, r.requester,
					`${r.approvals_have}/${r.approvals_needed}`])),
			el('h2', {}, 'Health: the CA\u2019s certificates, CRLs and storage'),
			el('p', {}, 'Status: ', el('span', { id: 'health', class: 'st-' + h.status }, h.status)),
			probs.length ? table(['What', 'State', 'At', 'Detail'], probs.map((p) => [p.what, p.state, p.at || '', problemDetail(p)])) :
				el('p', { class: 'muted' }, 'No certificate of the daemon\u2019s own expires soon; CRLs are fresh; the database\u2019s writes succeed and its disk has room.'),
			mat.disk && 'free' in mat.disk ? el('p', { id: 'disk' }, `Disk holding the database: ${bytes(mat.disk.free)} free of ${bytes(mat.disk.size)}`) : '',
			el('div', { id: 'material' }, table(['Kind', 'Name', 'Expires / next update', 'Days left'], mat.map(([k, n, t]) =>
				[k, n, when(t), Math.floor((t * 1000 - Date.now()) / 86400000)]))));
	},

	async approvals(args, params) {
		if (args[0]) return requestDetail(args[0]);
		const show = screen();
		const st = params.get('status') || 'pending';
		const list = await api('GET', '/requests' + qs({ status: st, limit: 100 }));
		const sel = el('select', { id: 'req-status', on: { change: () => { location.hash = '#/approvals?status=' + sel.value; } } },
			['pending', 'issued', 'rejected', 'expired'].map((s) => el('option', { value: s, selected: s === st }, s)));
		show(el('h1', {}, 'Approvals'), field('Status', sel),
			table(['Request', 'Subject', 'Names', 'Profile', 'Requester', 'Rule', 'Approvals', 'Status'],
				list.items.map((r) => [link('#/approvals/' + r.id, r.id.slice(0, 12)), r.subject || '',
					(r.names || []).join(', '), r.profile, r.requester, r.rule,
					`${r.approvals_have}/${r.approvals_needed}`, status(r.status)])));
	},

	async certificates(args, params) {
		if (args[0]) return certDetail(args[0]);
		return certSearch(params);
	},

	async request(args) {
		if (args[0]) return requestProgress(args[0]);
		const show = screen();
		const csr = el('textarea', { id: 'csr', required: true, spellcheck: 'false', placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
		const stats = await api('GET', '/stats').catch(() => ({ profiles: {} }));
		const profiles = Array.from(new Set(['tls-server', 'tls-client', ...Object.keys(stats.profiles)]));
		const prof = el('select', { id: 'profile' }, profiles.map((p) => el('option', { value: p }, p)));
		const out = el('div', { id: 'request-result', 'aria-live': 'polite' });
		const form = el('form', { on: { submit: async (ev) => {
			ev.preventDefault();
			const r = await attempt(() => api('POST', '/certificates', { csr: csr.value, profile: prof.value }));
			if (!r) return;
			if (r.request) location.hash = '#/request/' + r.request;
			else location.hash = '#/certificates/' + r.serial;
		} } }, field('Certificate signing request (PEM)', csr), field('Profile', prof),
		el('div', { class: 'actions' }, el('button', { type: 'submit', id: 'submit-csr' }, 'Request certificate')));
		show(el('h1', {}, 'Request a certificate'), form, out);
	},

	async audit(args, params) {
		const show = screen();
		const f = {};
		const inputs = ['actor', 'action', 'serial', 'since', 'until'].map((k) => {
			f[k] = el('input', { name: k, value: params.get(k) || '' });
			return field(k[0].toUpperCase() + k.slice(1), f[k]);
		});
		// Newest first, by cursor: a page reads at most 10,000 events of the log (docs/api.md).
		const after = params.get('after'), limit = 50;
		const q = { actor: params.get('actor'), action: params.get('action'), serial: params.get('serial'),
			since: params.get('since'), until: params.get('until'), order: 'newest', limit };
		const [res, cps] = await Promise.all([api('GET', '/audit' + qs(Object.assign({}, q, { after }))),
			api('GET', '/audit' + qs({ action: 'audit.checkpoint', order: 'newest', limit: 1 }))]);
		const last = cps.items[0];
		const form = el('form', { class: 'grid', on: { submit: (ev) => {
			ev.preventDefault();
			const o = {};
			for (const k of Object.keys(f)) o[k] = f[k].value;
			location.hash = '#/audit' + qs(o);
		} } }, inputs, el('button', { type: 'submit' }, 'Filter'));
		show(el('h1', {}, 'Audit log'), form,
			el('div', { class: 'actions' },
				el('button', { type: 'button', id: 'audit-export', class: 'secondary', on: { click: () => attempt(async () => {
					const text = await api('GET', '/audit/export');
					download('cairn-audit.jsonl', typeof text === 'string' ? text : JSON.stringify(text), 'application/jsonl');
				}) } }, 'Export (download)'),
				el('button', { type: 'button', id: 'audit-checkpoint', on: { click: () => attempt(async () => {
					await api('POST', '/audit/checkpoint', {});
					await route();
				}) } }, 'Sign a checkpoint now')),
			el('p', { id: 'checkpoint' }, 'Last signed checkpoint: ',
				last ? `#${last.seq} at ${last.time} by ${last.actor}` : 'none yet'),
			el('p', { class: 'muted' }, res.more ? `${res.items.length} events on this page (newest first, ${res.scanned} read); older ones follow`
				: `${res.items.length} events on this page (newest first)`),
			table(['#', 'Time', 'Actor', 'Action', 'Details'], res.items.map((e) =>
				[e.seq, e.time, e.actor, e.action, el('code', {}, JSON.stringify(e.details || {}))])),
			cursorPager('#/audit', Object.assign({}, q, { order: undefined, limit: undefined }), after, res.next));
	},

	async admin() {
		const show = screen();
		const [admins, tokens, users, policy] = await Promise.all([api('GET', '/admins'),
			api('GET', '/tokens'), api('GET', '/est/users'), api('GET', '/policy')]);
		const eab = el('div', { id: 'eab-keys' });
		await eabKeys(eab);
		const name = el('input', { name: 'name', required: true });
		const role = el('select', { name: 'role' }, ['approver', 'operator', 'auditor', 'admin'].map((r) => el('option', { value: r }, r)));
		const tname = el('input', { name: 'tname', required: true });
		const trole = el('select', { name: 'trole' }, ['approver', 'operator', 'auditor', 'admin'].map((r) => el('option', { value: r }, r)));
		const tout = el('div', { 'aria-live': 'polite' });
		const uname = el('input', { name: 'uname', required: true });
		const upass = el('input', { name: 'upass', type: 'password', required: true, autocomplete: 'new-password' });
		const ulabels = el('input', { name: 'ulabels', placeholder: 'label1, label2' });
		const eout = el('div', { 'aria-live': 'polite' });
		const tcsr = el('textarea', { id: 'test-csr', spellcheck: 'false' });
		const tchan = el('select', { id: 'test-channel' }, ['admin', 'acme', 'est'].map((c) => el('option', { value: c }, c)));
		const testOut = el('pre', { id: 'test-result', 'aria-live': 'polite' });
		const submit = (fn) => ({ submit: async (ev) => { ev.preventDefault(); await attempt(fn); } });
		show(el('h1', {}, 'Administration'),
			el('h2', {}, 'Admins'),
			table(['Name', 'Role', 'Disabled', 'Created', ''], (admins.admins || admins.items || admins).map((a) => [a.name, a.role,
				a.disabled ? 'yes' : 'no', when(a.created), a.disabled ? '' : el('button', { type: 'button', class: 'secondary', on: { click: () => attempt(async () => {
					await api('POST', '/admins/' + encodeURIComponent(a.name) + '/disable', {}); await route();
				}) } }, 'Disable')])),
			el('form', { class: 'grid', on: submit(async () => { await api('POST', '/admins', { name: name.value, role: role.value }); await route(); }) },
				field('New admin name', name), field('Role', role), el('button', { type: 'submit' }, 'Add admin')),
			el('h2', {}, 'API tokens'),
			table(['Id', 'Admin', 'Role', 'Created', 'Expires', 'Revoked', ''], (tokens.tokens || tokens.items || tokens).map((t) => [t.id, t.name, t.role,
				when(t.created), when(t.expires) || 'never', t.revoked ? 'yes' : 'no', t.revoked ? '' : el('button', { type: 'button', class: 'secondary', on: { click: () => attempt(async () => {
					await api('POST', '/tokens/' + encodeURIComponent(t.id) + '/revoke', {}); await route();
				}) } }, 'Revoke')])),
			el('form', { class: 'grid', on: submit(async () => {
				const r = await api('POST', '/tokens', { name: tname.value, role: trole.value });
				tout.replaceChildren(el('p', { class: 'notice' }, 'New token (shown once): ', el('code', {}, r.token)));
			}) }, field('Token for admin', tname), field('Role', trole), el('button', { type: 'submit' }, 'Create token')), tout,
			el('h2', {}, 'EST users'),
			table(['Name', 'Labels', 'Created', ''], (users.users || []).map((u) => [u.name, (u.labels || []).join(', ') || '(default)', u.created,
				el('button', { type: 'button', class: 'secondary', on: { click: () => attempt(async () => {
					await api('DELETE', '/est/users/' + encodeURIComponent(u.name)); await route();
				}) } }, 'Delete')])),
			el('form', { class: 'grid', on: submit(async () => {
				const labels = ulabels.value.split(',').map((s) => s.trim()).filter(Boolean);
				await api('POST', '/est/users', { name: uname.value, password: upass.value, labels }); upass.value = ''; await route();
			}) }, field('EST user', uname), field('Password', upass), field('Labels', ulabels), el('button', { type: 'submit' }, 'Add EST user')),
			el('h2', {}, 'ACME external account binding'),
			el('div', { class: 'actions' }, el('button', { type: 'button', on: { click: () => attempt(async () => {
				const r = await api('POST', '/acme/eab', {});
				eout.replaceChildren(dl([['Key id', el('code', {}, r.kid)], ['HMAC key (shown once)', el('code', {}, r.hmac_key)],
					['Unused, it stops working at', when(r.expires)]]));
				await eabKeys(eab);
			}) } }, 'Create an EAB key')), eout, eab,
			el('h2', {}, 'Policy in force'), el('pre', { id: 'policy' }, typeof policy === 'string' ? policy : JSON.stringify(policy, null, 2)),
			el('h2', {}, 'Test a CSR against the policy'),
			el('form', { on: submit(async () => {
				const r = await api('POST', '/policy/test', { csr: tcsr.value, channel: tchan.value });
				testOut.textContent = JSON.stringify(r, null, 2);
			}) }, field('CSR (PEM)', tcsr), field('Channel', tchan), el('div', { class: 'actions' }, el('button', { type: 'submit', id: 'test-submit' }, 'Test'))), testOut);
	},
};

// Pages by cursor: back to the first page, or on to the next (no jump to page N: a page
// costs its rows only because it starts at the key the previous one ended at).
function cursorPager(base, q, after, next) {
	const nav = el('div', { class: 'actions', role: 'navigation', 'aria-label': 'Pages' });
	if (after) nav.append(link(base + qs(q), '\u2190 First'));
	if (next) nav.append(link(base + qs(Object.assign({}, q, { after: next })), 'Next \u2192'));
	return nav;
}

// ---- administration: the EAB keys, each with its state and the account it bound ----
// Revoking a bound key revokes its account too: the row asks first, naming the account.
async function eabKeys(box) {
	let list;
	try { list = await api('GET', '/acme/eab'); } catch (e) {
		box.replaceChildren(el('p', { class: 'muted' }, 'EAB keys: ' + e.message));
		return;
	}
	const revoke = (k, cell) => {
		const yes = el('button', { type: 'button', class: 'danger', 'data-kid': k.kid, on: { click: () => attempt(async () => {
			await api('POST', '/acme/eab/' + encodeURIComponent(k.kid) + '/revoke', {}); await eabKeys(box);
		}) } }, 'Yes, revoke');
		cell.replaceChildren(k.account ? `Revoke it and account ${k.account}? ` : 'Revoke it? ', yes);
	};
	box.replaceChildren(table(['Key id', 'State', 'Group', 'Profile', 'Expires', 'Account', ''], list.items.map((k) => {
		const cell = el('span', {});
		if (k.state !== 'revoked')
			cell.append(el('button', { type: 'button', class: 'secondary', on: { click: () => revoke(k, cell) } }, 'Revoke'));
		return [el('code', {}, k.kid), status(k.state), k.group || '', k.profile || '', when(k.expires) || 'never',
			k.account || '', cell];
	})));
}

// ---- approvals: one request ----
async function requestDetail(id) {
	const show = screen();
	const r = await api('GET', '/requests/' + encodeURIComponent(id));
	const comment = el('textarea', { id: 'comment', name: 'comment' });
	const decide = (verb) => attempt(async () => {
		await api('POST', `/requests/${encodeURIComponent(id)}/${verb}`, comment.value ? { comment: comment.value } : {});
		await route();
	});
	const v = r.validity || {};
	const key = r.key ? [r.key.type, r.key.bits ? r.key.bits + ' bits' : '', r.key.curve || ''].filter(Boolean).join(' ') : '';
	const d = r.decision || {};
	show(el('h1', {}, 'Request ', el('code', {}, r.id)),
		dl([['Status', status(r.status)], ['Subject', el('span', { id: 'req-subject' }, r.subject || '')],
			['Names (SANs)', (r.sans || []).map((s) => `${s.type}:${s.value}`).join(', ') || 'none'],
			['Key', key], ['OCSP Must-Staple', el('span', { id: 'req-staple' }, r.must_staple ? 'asked for by the CSR' : 'not asked for')],
			['Profile', r.profile], ['Channel', r.channel], ['Requester', r.requester],
			['Validity', `asked ${v.asked_days ?? 'default'} days, granted ${v.granted_days ?? '?'} days`],
			['Rule', `${r.rule || ''}${d.name ? ' (triggered by ' + d.name + ')' : ''}`], ['Why', d.reason || r.reason || ''],
			['Approvals', `${r.approvals_have}/${r.approvals_needed}`],
			r.serial ? ['Certificate', link('#/certificates/' + r.serial, r.serial)] : null]),
		el('h2', {}, 'Approvals'),
		table(['By', 'Role', 'At', 'Comment'], (r.approvals || []).map((a) => [a.by, a.role, when(a.at), a.comment || ''])),
		el('h2', {}, 'History'),
		table(['Event', 'By', 'At', 'Comment'], (r.history || []).map((h) => [h.event, h.by || '', when(h.at), h.comment || h.reason || ''])),
		r.status === 'pending' && can('decide') ? el('section', { id: 'decide' }, el('h2', {}, 'Decide'),
			field('Comment', comment), el('div', { class: 'actions' },
				el('button', { type: 'button', id: 'approve', on: { click: () => decide('approve') } }, 'Approve'),
				el('button', { type: 'button', id: 'reject', class: 'danger', on: { click: () => decide('reject') } }, 'Reject'))) : null);
}

// ---- self-service: a request's progress ----
async function requestProgress(id) {
	const show = screen();
	const r = await api('GET', '/requests/' + encodeURIComponent(id));
	const parts = [el('h1', {}, 'Your request ', el('code', {}, r.id)),
		dl([['Status', el('span', { id: 'progress-status' }, status(r.status))], ['Decision', (r.decision && r.decision.reason) || r.reason || ''],
			['Approvals', `${r.approvals_have}/${r.approvals_needed}`], ['Profile', r.profile]]),
		el('div', { class: 'actions' }, el('button', { type: 'button', id: 'refresh', class: 'secondary', on: { click: route } }, 'Refresh'))];
	if (r.serial) {
		parts.push(el('div', { class: 'actions' }, el('button', { type: 'button', id: 'download', on: { click: () => attempt(async () => {
			const c = await api('GET', '/certificates/' + r.serial);
			download(r.serial + '.pem', c.certificate, 'application/x-pem-file');
		}) } }, 'Download certificate'), link('#/certificates/' + r.serial, 'Details')));
	}
	show(...parts);
}

// ---- certificates ----
async function certSearch(params) {
	const show = screen();
	const keys = ['name', 'serial', 'status', 'profile', 'requester', 'expires_after', 'expires_before'];
	const f = {};
	const inputs = keys.map((k) => {
		f[k] = k === 'status'
			? el('select', { name: k }, ['', 'valid', 'revoked'].map((s) => el('option', { value: s, selected: s === (params.get(k) || '') }, s || 'any')))
			: el('input', { name: k, value: params.get(k) || '', placeholder: k.startsWith('expires') ? 'YYYY-MM-DD' : '' });
		return field(k.replace('_', ' ').replace(/^./, (c) => c.toUpperCase()), f[k]);
	});
	// Keyset paging (docs/api.md): "after" is the previous page's "next" cursor.
	const after = params.get('after') || '', limit = 25;
	const q = {};
	for (const k of keys) q[k] = params.get(k);
	const res = await api('GET', '/certificates' + qs(Object.assign({}, q, { after, limit })));
	const form = el('form', { class: 'grid', id: 'cert-search', on: { submit: (ev) => {
		ev.preventDefault();
		const o = {};
		for (const k of keys) o[k] = f[k].value.trim();
		location.hash = '#/certificates' + qs(o);
	} } }, inputs, el('button', { type: 'submit', id: 'search' }, 'Search'));
	show(el('h1', {}, 'Certificates'), form,
		el('p', { class: 'muted', id: 'cert-total' }, res.total === null
			? `${res.items.length} certificates on this page, more match` : `${res.total} certificates match`),
		table(['Serial', 'Subject', 'Profile', 'Requester', 'Expires', 'Status'], res.items.map((c) =>
			[link('#/certificates/' + c.serial, c.serial.slice(0, 16) + '\u2026'), c.subject, c.profile, c.requester, c.not_after, status(c.status)])),
		cursorPager('#/certificates', q, after, res.next));
}

async function certDetail(serial) {
	const show = screen();
	const [c, trail] = await Promise.all([api('GET', '/certificates/' + encodeURIComponent(serial)),
		can('audit') ? api('GET', '/audit' + qs({ serial, order: 'newest', limit: 200 })) : Promise.resolve(null)]);
	const reasons = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn'];
	const reason = el('select', { id: 'revoke-reason' }, reasons.map((r) => el('option', { value: r }, r)));
	const confirmBox = el('div', { id: 'revoke-confirm', hidden: true },
		el('p', {}, 'Revoke ', el('code', {}, c.serial), ' (', c.subject, ')? This cannot be undone.'),
		el('div', { class: 'actions' },
			el('button', { type: 'button', id: 'revoke-yes', class: 'danger', on: { click: () => attempt(async () => {
				await api('POST', `/certificates/${encodeURIComponent(c.serial)}/revoke`, { reason: reason.value });
				await route();
			}) } }, 'Yes, revoke'),
			el('button', { type: 'button', class: 'secondary', on: { click: () => { confirmBox.hidden = true; } } }, 'Cancel')));
	show(el('h1', {}, 'Certificate'),
		dl([['Serial', el('code', { id: 'cert-serial' }, c.serial)], ['Status', el('span', { id: 'cert-status' }, status(c.status))],
			['OCSP answer', el('span', { id: 'cert-ocsp' }, c.status === 'revoked'
				? `revoked at ${c.revoked_at} (${c.revocation_reason})` : 'good')],
			['Subject', el('span', { id: 'cert-subject' }, c.subject)], ['Issuer (chain)', c.issuer],
			['Not before', c.not_before], ['Not after', c.not_after], ['Profile', c.profile], ['Requester', c.requester]]),
		el('div', { class: 'actions' },
			el('button', { type: 'button', id: 'download-pem', class: 'secondary', on: { click: () => download(c.serial + '.pem', c.certificate, 'application/x-pem-file') } }, 'Download PEM'),
			c.status !== 'revoked' && can('revoke') ? [field('Reason', reason),
				el('button', { type: 'button', id: 'revoke', class: 'danger', on: { click: () => { confirmBox.hidden = false; $('revoke-yes').focus(); } } }, 'Revoke\u2026')] : null),
		confirmBox,
		el('h2', {}, 'PEM'), el('pre', {}, c.certificate),
		trail ? el('section', { id: 'trail' }, el('h2', {}, 'Audit trail'),
			table(['#', 'Time', 'Actor', 'Action', 'Details'], trail.items.map((e) =>
				[e.seq, e.time, e.actor, e.action, el('code', {}, JSON.stringify(e.details || {}))])),
			trail.more ? link('#/audit' + qs({ serial, after: trail.next }), 'Older events of the log \u2192') : null) : null);
}

// ---- boot ----
document.addEventListener('DOMContentLoaded', async () => {
	$('signout').addEventListener('click', signOut);
	window.addEventListener('hashchange', route);
	try {
		const s = await api('GET', '/session');
		if (s.via === 'session') await start(s);
		else renderSignIn(null, s.via === 'certificate' ? s.name : null);
	} catch (e) {
		renderSignIn(e.status === 401 ? null : e.message);
	}
});
