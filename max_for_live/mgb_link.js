// musicgen-bridge Max for Live device: this instance's line to the engine (OSC over UDP).
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Written in ES5 for Max's classic `js` object. Every device instance has its own client id and
// its own reply port, so one device per track works: the engine sends each instance only the
// replies and events of its own requests (docs/protocol.md §8.4).
//
//   var link = require("mgb_link").createLink({send: ..., toReceiver: ..., later: ..., cancelTimer: ...,
//                                              random: Math.random});
//   link.start();                                   // picks a port, tells udpreceive, says hello
//   link.request("/mgb/generate", {prompt: "x"});   // JSON with client_id; split when large
//   link.onHello({client_id: "m-...", reply_port: 23456});   // the engine's hello reply
//   link.close();                                   // /mgb/bye: the engine stops our live sessions

var PORT_LOW = 20000;           // reply ports are chosen from here ...
var PORT_SPAN = 10000;          // ... to PORT_LOW + PORT_SPAN - 1
var HELLO_EVERY_MS = 5000;      // keep-alive: the engine forgets a client silent for 30 s
var PART_CHARS = 600;           // <= 1800 bytes of UTF-8 a datagram: far under any OSC stack's limit
var MAX_PORT_TRIES = 3;

function hex(random, n) {
  var s = "";
  for (var i = 0; i < n; i++) s += "0123456789abcdef".charAt(Math.floor(random() * 16));
  return s;
}

function createLink(d) {
  var random = d.random || Math.random;
  var st = {id: "m-" + hex(random, 12), port: 0, acked: false, tries: 0, keepalive: null, uploads: 0, closed: false};

  function pickPort() {
    st.port = PORT_LOW + Math.floor(random() * PORT_SPAN);
    st.tries += 1;
    d.toReceiver("port", st.port);  // udpreceive moves to it
  }

  function hello() {
    d.send("/mgb/hello", st.port, st.id);
  }

  function keepAlive() {
    if (st.closed) return;
    hello();
    st.keepalive = d.later(keepAlive, HELLO_EVERY_MS);
  }

  function start() {
    st.closed = false;
    st.acked = false;
    st.tries = 0;
    pickPort();
    d.cancelTimer(st.keepalive);
    keepAlive();
  }

  // no hello reply: the port may be taken by another program; true when another port is tried
  function retry() {
    st.acked = false;
    if (st.tries >= MAX_PORT_TRIES) return false;
    pickPort();
    hello();
    return true;
  }

  // the engine's hello reply; false when it names another instance (ignore it)
  function onHello(body) {
    if (body && body.client_id !== undefined && body.client_id !== st.id) return false;
    st.acked = true;
    return true;
  }

  // a request's content goes as JSON with our id; too large for one datagram -> /mgb/part pieces
  function request(address, content) {
    var c = {};
    for (var k in content) if (content.hasOwnProperty(k)) c[k] = content[k];
    c.client_id = st.id;
    var text = JSON.stringify(c);
    if (text.length <= PART_CHARS) return d.send(address, text);
    st.uploads += 1;
    var upload = st.id + "-u" + st.uploads;
    var pieces = [];
    for (var at = 0; at < text.length; at += pieces[pieces.length - 1].length) {
      var n = PART_CHARS;
      var code = text.charCodeAt(at + n - 1);
      if (code >= 0xd800 && code <= 0xdbff) n -= 1;  // never split a surrogate pair
      pieces.push(text.substr(at, n));
    }
    for (var i = 0; i < pieces.length; i++) d.send("/mgb/part", upload, i, pieces.length, address, pieces[i]);
  }

  function close() {
    if (st.closed) return;
    st.closed = true;
    d.cancelTimer(st.keepalive);
    d.send("/mgb/bye", st.id);
  }

  return {start: start, retry: retry, onHello: onHello, request: request, close: close,
          acked: function () { return st.acked; }, id: function () { return st.id; },
          port: function () { return st.port; }};
}

if (typeof exports !== "undefined") exports.createLink = createLink;
