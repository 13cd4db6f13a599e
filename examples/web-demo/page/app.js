// The iogate notifications demo: signs in through the development login, lists the
// user's notifications over REST, and shows each `notification` event as it arrives.
// Every text from the server or the user goes into the page as a text node, never as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const TOAST_MS = 8000;
  const MAX_TOASTS = 5;
  const PAGE_SIZE = 50;

  // ?transport=polling or ?transport=websocket forces one transport; otherwise the client
  // starts with polling and upgrades to WebSocket.
  const forced = new URLSearchParams(location.search).get('transport');
  const transports = forced === 'polling' || forced === 'websocket' ? [forced] : undefined;

  const state = {
    me: null, // {userId, admin}
    socket: null,
    items: new Map(), // id -> notification
    unread: 0,
  };

  // ---- small DOM helpers ----

  // el('li', {className: 'item', dataset: {id: '7'}}, 'text', child): children are
  // nodes or strings (added as text nodes).
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'dataset') Object.assign(node.dataset, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  async function request(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try {
      data = await res.json();
    } catch {
      // 204 and non-JSON answers have no body to read
    }
    return { status: res.status, ok: res.ok, data, headers: res.headers };
  }

  function errorText(res) {
    const e = res.data && res.data.error;
    return e && typeof e.message === 'string' ? `${e.message} (${res.status})` : `HTTP ${res.status}`;
  }

  const types = new Set(['notification', 'info', 'warning', 'error', 'success']);
  const typeOf = (n) => (types.has(n.type) ? n.type : 'notification');

  function formatTime(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
  }

  // ---- connection state ----

  function setConnection(s) {
    $('conn').dataset.state = s;
    setText('conn-state', s);
  }

  function setTransport(name) {
    setText('transport', name || 'none');
    $('transport-pill').dataset.transport = name || '';
  }

  function connect() {
    disconnect();
    setConnection('connecting');
    // Same origin: the browser sends the HttpOnly auth cookie with every polling request
    // and with the WebSocket handshake, and the server puts the socket in user:{id}.
    const socket = io({ transports, withCredentials: true, reconnectionDelayMax: 5000 });
    state.socket = socket;
    let connectedBefore = false;
    socket.on('connect', () => {
      setConnection('connected');
      setTransport(socket.io.engine.transport.name);
      // Events sent while this page was disconnected are not replayed: reload the list.
      if (connectedBefore) loadNotifications();
      connectedBefore = true;
    });
    socket.on('disconnect', () => {
      setConnection('disconnected');
      setTransport(null);
    });
    socket.on('connect_error', () => setConnection('disconnected'));
    socket.io.on('reconnect_attempt', () => setConnection('connecting'));
    socket.io.on('open', () => {
      socket.io.engine.on('upgrade', (t) => setTransport(t.name));
    });
    socket.on('notification', onNotification);
  }

  function disconnect() {
    if (!state.socket) return;
    state.socket.removeAllListeners();
    state.socket.io.removeAllListeners();
    state.socket.disconnect();
    state.socket = null;
    setConnection('disconnected');
    setTransport(null);
  }

  // ---- notifications ----

  function renderList() {
    const list = $('list');
    const sorted = [...state.items.values()].sort((a, b) => Number(b.id) - Number(a.id));
    list.replaceChildren(...sorted.map(renderItem));
    show('empty', sorted.length === 0);
    $('unread').dataset.count = String(state.unread);
    setText('unread', String(state.unread));
    $('read-all-button').disabled = state.unread === 0;
  }

  function renderItem(n) {
    const type = typeOf(n);
    const button = el('button', { type: 'button', className: 'small secondary mark-read' }, 'Mark read');
    button.hidden = n.read;
    button.addEventListener('click', () => markRead(n.id, button));
    const meta = [formatTime(n.createdAt), n.userId === null ? 'to everyone' : null]
      .filter(Boolean)
      .join(' · ');
    return el(
      'li',
      { className: `item ${n.read ? 'read' : 'unread'}`, dataset: { id: n.id, type } },
      el('span', { className: `type type-${type}` }, type),
      el('span', { className: 'text' }, n.message),
      el('span', { className: 'actions' }, button),
      el('span', { className: 'meta' }, meta),
    );
  }

  async function loadNotifications() {
    const res = await request('GET', `/notifications?limit=${PAGE_SIZE}`);
    if (!res.ok) {
      setText(
        'notif-error',
        res.status === 401
          ? 'The server refused the token: [plugin.webdemo] jwt_secret must equal [auth] jwt_secret.'
          : `Could not load the notifications: ${errorText(res)}`,
      );
      return;
    }
    setText('notif-error', '');
    // Events that arrived while the request was in flight are kept (same id: the
    // server's copy wins); those newer than the server's answer are not in its count.
    const newest = res.data.items.reduce((m, n) => Math.max(m, Number(n.id)), 0);
    for (const n of res.data.items) state.items.set(n.id, n);
    let later = 0;
    for (const n of state.items.values()) if (Number(n.id) > newest && !n.read) later++;
    state.unread = res.data.unreadCount + later;
    renderList();
  }

  function onNotification(n) {
    if (!n || typeof n.id !== 'string') return;
    toast(n);
    if (state.items.has(n.id)) return; // already listed by a reload racing with the event
    state.items.set(n.id, { ...n, read: false });
    state.unread += 1;
    renderList();
  }

  async function markRead(id, button) {
    button.disabled = true;
    const res = await request('PATCH', `/notifications/${encodeURIComponent(id)}/read`);
    if (!res.ok) {
      button.disabled = false;
      setText('notif-error', `Could not mark it read: ${errorText(res)}`);
      return;
    }
    const was = state.items.get(id);
    if (was && !was.read) state.unread = Math.max(0, state.unread - 1);
    state.items.set(id, res.data);
    renderList();
  }

  async function markAllRead() {
    const res = await request('POST', '/notifications/read-all');
    if (!res.ok) {
      setText('notif-error', `Could not mark them read: ${errorText(res)}`);
      return;
    }
    for (const n of state.items.values()) n.read = true;
    state.unread = 0;
    renderList();
  }

  function toast(n) {
    const box = $('toasts');
    const type = typeOf(n);
    const close = el('button', { type: 'button', className: 'close', title: 'Dismiss' }, '\u00d7');
    const t = el(
      'div',
      { className: `toast type-${type}`, role: 'status', dataset: { id: n.id } },
      el('strong', {}, type),
      el('span', { className: 'text' }, n.message),
      close,
    );
    close.addEventListener('click', () => t.remove());
    box.prepend(t); // column-reverse: the newest is at the bottom
    while (box.children.length > MAX_TOASTS) box.lastElementChild.remove();
    setTimeout(() => t.remove(), TOAST_MS);
  }

  // ---- admin: send ----

  async function send(event) {
    event.preventDefault();
    const toAll = $('target-all').checked;
    const message = $('send-message').value;
    const type = $('send-type').value;
    const userId = $('send-user').value.trim();
    const result = $('send-result');
    if (!toAll && !userId) {
      result.className = 'result failed';
      result.textContent = 'Enter a user id, or choose "to everyone".';
      return;
    }
    $('send-button').disabled = true;
    const res = toAll
      ? await request('POST', '/notifications/broadcast', { message, type })
      : await request('POST', '/notifications', { userId, message, type });
    $('send-button').disabled = false;
    if (res.status !== 201) {
      result.className = 'result failed';
      result.textContent = `Not sent: ${errorText(res)}`;
      return;
    }
    const sockets = res.headers.get('x-notification-recipients');
    result.className = 'result';
    result.textContent = `Sent #${res.data.id} to ${toAll ? 'everyone' : userId}` +
      (sockets === null ? '' : ` (reached ${sockets} open socket${sockets === '1' ? '' : 's'})`);
    $('send-message').value = '';
  }

  // ---- signing in and out ----

  function signedIn(me) {
    state.me = me;
    state.items.clear();
    state.unread = 0;
    setText('me-name', me.userId);
    show('me-admin', me.admin);
    show('login-card', false);
    show('me-card', true);
    show('notif-card', true);
    show('admin-card', me.admin);
    document.body.dataset.user = me.userId;
    renderList();
    connect();
    return loadNotifications();
  }

  function signedOut() {
    disconnect();
    state.me = null;
    state.items.clear();
    state.unread = 0;
    delete document.body.dataset.user;
    show('login-card', true);
    show('me-card', false);
    show('notif-card', false);
    show('admin-card', false);
    $('login-user').focus();
  }

  async function login(event) {
    event.preventDefault();
    setText('login-error', '');
    $('login-button').disabled = true;
    const res = await request('POST', '/demo/login', {
      userId: $('login-user').value.trim(),
      admin: $('login-admin').checked,
    });
    $('login-button').disabled = false;
    if (!res.ok) {
      setText('login-error', `Could not sign in: ${errorText(res)}`);
      return;
    }
    await signedIn(res.data);
  }

  async function logout() {
    await request('POST', '/demo/logout');
    signedOut();
  }

  async function start() {
    $('login-form').addEventListener('submit', login);
    $('logout-button').addEventListener('click', logout);
    $('read-all-button').addEventListener('click', markAllRead);
    $('send-form').addEventListener('submit', send);
    $('send-user').addEventListener('focus', () => ($('target-user').checked = true));
    if (typeof io !== 'function') {
      show('login-card', true);
      setText('login-error', 'The socket.io client did not load (GET /demo/socket.io.min.js failed).');
      $('login-button').disabled = true;
      return;
    }
    const me = await request('GET', '/demo/me');
    if (me.ok) await signedIn(me.data);
    else signedOut();
    document.body.dataset.ready = 'true';
  }

  start();
})();
