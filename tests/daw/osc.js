// OSC 1.0 encoding for the device tests: stands in for Max's udpsend/udpreceive.
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Like udpsend, a JavaScript number is sent as an int32 when it is whole, else as a float32.
//   const buf = encode("/mgb/hello", [9001]);  decode(buf) -> {address: "/mgb/hello", args: [9001]}
"use strict";

function pad4(n) {
  return (n + 3) & ~3;
}

function oscString(s) {
  const raw = Buffer.from(String(s), "utf8");
  const out = Buffer.alloc(pad4(raw.length + 1));
  raw.copy(out);
  return out;
}

function encode(address, args) {
  let tags = ",";
  const parts = [];
  for (const a of args) {
    if (typeof a === "number" && Number.isInteger(a) && a >= -2147483648 && a <= 2147483647) {
      tags += "i";
      const b = Buffer.alloc(4);
      b.writeInt32BE(a);
      parts.push(b);
    } else if (typeof a === "number") {
      tags += "f";
      const b = Buffer.alloc(4);
      b.writeFloatBE(a);
      parts.push(b);
    } else {
      tags += "s";
      parts.push(oscString(a));
    }
  }
  return Buffer.concat([oscString(address), oscString(tags), ...parts]);
}

function readString(buf, pos) {
  const end = buf.indexOf(0, pos);
  if (end < 0) throw new Error("OSC: unterminated string");
  return [buf.toString("utf8", pos, end), pad4(end + 1)];
}

function decode(buf) {
  let [address, pos] = readString(buf, 0);
  if (address === "#bundle") throw new Error("OSC bundles are not expected from the engine");
  let tags;
  [tags, pos] = readString(buf, pos);
  const args = [];
  for (const t of tags.slice(1)) {
    if (t === "i") { args.push(buf.readInt32BE(pos)); pos += 4; }
    else if (t === "f") { args.push(buf.readFloatBE(pos)); pos += 4; }
    else if (t === "d") { args.push(buf.readDoubleBE(pos)); pos += 8; }
    else if (t === "h") { args.push(Number(buf.readBigInt64BE(pos))); pos += 8; }
    else if (t === "s") { let s; [s, pos] = readString(buf, pos); args.push(s); }
    else if (t === "T") args.push(1);
    else if (t === "F") args.push(0);
    else if (t === "N") args.push(null);
    else throw new Error("OSC: unsupported type tag " + t);
  }
  return {address, args};
}

module.exports = {encode, decode};
