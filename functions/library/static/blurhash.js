// Blurhash decoder (the published algorithm, github.com/woltapp/blurhash): a hash string to
// RGBA pixels, drawn on a small canvas as an image's placeholder until the image loads.
"use strict";
const BLURHASH_DIGITS =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

function decode83(text) {
  let value = 0;
  for (const ch of text) {
    const digit = BLURHASH_DIGITS.indexOf(ch);
    if (digit < 0) throw new Error("bad blurhash");
    value = value * 83 + digit;
  }
  return value;
}

function srgbToLinear(v) {
  const x = v / 255;
  return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
}

function linearToSrgb(v) {
  const x = Math.max(0, Math.min(1, v));
  return x <= 0.0031308
    ? Math.round(x * 12.92 * 255 + 0.5)
    : Math.round((1.055 * Math.pow(x, 1 / 2.4) - 0.055) * 255 + 0.5);
}

function signPow(v, e) {
  return Math.sign(v) * Math.pow(Math.abs(v), e);
}

function blurhashPixels(hash, width, height) {
  if (typeof hash !== "string" || hash.length < 6) throw new Error("bad blurhash");
  const size = decode83(hash[0]);
  const numY = Math.floor(size / 9) + 1;
  const numX = (size % 9) + 1;
  if (hash.length !== 4 + 2 * numX * numY) throw new Error("bad blurhash");
  const maxValue = (decode83(hash[1]) + 1) / 166;
  const colors = [];
  for (let i = 0; i < numX * numY; i++) {
    if (i === 0) {
      const dc = decode83(hash.substring(2, 6));
      colors.push([srgbToLinear(dc >> 16), srgbToLinear((dc >> 8) & 255), srgbToLinear(dc & 255)]);
    } else {
      const ac = decode83(hash.substring(4 + i * 2, 6 + i * 2));
      const q = [Math.floor(ac / 361), Math.floor(ac / 19) % 19, ac % 19];
      colors.push(q.map((c) => signPow((c - 9) / 9, 2) * maxValue));
    }
  }
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < numY; j++) {
        for (let i = 0; i < numX; i++) {
          const basis = Math.cos((Math.PI * x * i) / width) * Math.cos((Math.PI * y * j) / height);
          const color = colors[i + j * numX];
          r += color[0] * basis;
          g += color[1] * basis;
          b += color[2] * basis;
        }
      }
      const at = 4 * (x + y * width);
      pixels[at] = linearToSrgb(r);
      pixels[at + 1] = linearToSrgb(g);
      pixels[at + 2] = linearToSrgb(b);
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}

// A 32x32 canvas painted with the hash (scaled by CSS), or null when the hash is unusable.
function blurhashCanvas(hash) {
  try {
    const pixels = blurhashPixels(hash, 32, 32);
    const canvas = document.createElement("canvas");
    canvas.width = 32;
    canvas.height = 32;
    canvas.className = "placeholder";
    const context = canvas.getContext("2d");
    context.putImageData(new ImageData(pixels, 32, 32), 0, 0);
    return canvas;
  } catch (err) {
    return null;
  }
}
