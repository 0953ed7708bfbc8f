/**
 * Camera frames: a small PNG of a car seen by the entry (front, headlights) or exit (rear, tail lights) camera, in
 * the car's colour, with its plate drawn in a 3×5 pixel font and a little sensor noise — real, decodable bytes.
 * PNG through pngjs, because it encodes a frame in well under a millisecond (jpeg-js rebuilds its tables on every
 * call, ~30 ms a frame).
 */
import { PNG } from 'pngjs';
import type { Random } from './random.ts';

export const IMAGE_WIDTH = 96;
export const IMAGE_HEIGHT = 64;
export const IMAGE_CONTENT_TYPE = 'image/png';

/** zlib level: 6 costs less than pngjs' default 9 and the frames come out the same size. */
const DEFLATE_LEVEL = 6;

type Rgb = readonly [number, number, number];

export interface CarPicture {
  plate: string;
  direction: 'entry' | 'exit';
  color: Rgb;
}

export const CAR_COLORS: readonly Rgb[] = [
  [200, 200, 205],
  [30, 30, 35],
  [150, 20, 25],
  [20, 60, 140],
  [230, 230, 230],
  [90, 95, 100],
  [20, 100, 50],
  [220, 160, 20],
];

// 3×5 glyphs, rows top to bottom separated by '/'.
const GLYPHS: Record<string, string> = {
  A: '.#./#.#/###/#.#/#.#',
  B: '##./#.#/##./#.#/##.',
  C: '.##/#../#../#../.##',
  D: '##./#.#/#.#/#.#/##.',
  E: '###/#../##./#../###',
  F: '###/#../##./#../#..',
  G: '.##/#../#.#/#.#/.##',
  H: '#.#/#.#/###/#.#/#.#',
  I: '###/.#./.#./.#./###',
  J: '..#/..#/..#/#.#/.#.',
  K: '#.#/#.#/##./#.#/#.#',
  L: '#../#../#../#../###',
  M: '#.#/###/###/#.#/#.#',
  N: '##./#.#/#.#/#.#/#.#',
  O: '.#./#.#/#.#/#.#/.#.',
  P: '##./#.#/##./#../#..',
  Q: '.#./#.#/#.#/.#./..#',
  R: '##./#.#/##./#.#/#.#',
  S: '.##/#../.#./..#/##.',
  T: '###/.#./.#./.#./.#.',
  U: '#.#/#.#/#.#/#.#/###',
  V: '#.#/#.#/#.#/#.#/.#.',
  W: '#.#/#.#/###/###/#.#',
  X: '#.#/#.#/.#./#.#/#.#',
  Y: '#.#/#.#/.#./.#./.#.',
  Z: '###/..#/.#./#../###',
  '0': '###/#.#/#.#/#.#/###',
  '1': '.#./##./.#./.#./###',
  '2': '##./..#/.#./#../###',
  '3': '##./..#/.#./..#/##.',
  '4': '#.#/#.#/###/..#/..#',
  '5': '###/#../##./..#/##.',
  '6': '.##/#../###/#.#/###',
  '7': '###/..#/.#./#../#..',
  '8': '###/#.#/###/#.#/###',
  '9': '###/#.#/###/..#/##.',
  '-': '.../.../###/.../...',
  ' ': '.../.../.../.../...',
};

/** A PNG frame of the car (RGB, IMAGE_WIDTH × IMAGE_HEIGHT). */
export function renderCarImage(picture: CarPicture, random: Random): Buffer {
  // RGB in, RGB out: pngjs then hands the pixels to the filter as they are instead of repacking every pixel.
  const png = new PNG({
    width: IMAGE_WIDTH,
    height: IMAGE_HEIGHT,
    colorType: 2,
    inputColorType: 2,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(background());
  const canvas = { data: png.data, width: IMAGE_WIDTH };
  drawCar(canvas, picture);
  addNoise(canvas, random);
  // The sub filter alone compresses these frames about as well as adaptive filtering, at half the cost.
  return PNG.sync.write(png, {
    colorType: 2,
    inputColorType: 2,
    inputHasAlpha: false,
    filterType: 1,
    deflateLevel: DEFLATE_LEVEL,
  });
}

/** A car's colour follows from its plate, so the entry and the exit camera see the same car. */
export function carColor(plate: string): Rgb {
  let hash = 0;
  for (let i = 0; i < plate.length; i++) hash = (Math.imul(hash, 31) + plate.charCodeAt(i)) >>> 0;
  return CAR_COLORS[hash % CAR_COLORS.length];
}

interface Canvas {
  data: Buffer;
  width: number;
}

let backgroundPixels: Buffer | undefined;

/** Wall, asphalt and the painted line: the same behind every car, so drawn once. */
function background(): Buffer {
  if (!backgroundPixels) {
    const canvas = { data: Buffer.alloc(IMAGE_WIDTH * IMAGE_HEIGHT * 3), width: IMAGE_WIDTH };
    for (let y = 0; y < IMAGE_HEIGHT; y++) {
      const shade = y < 24 ? 170 - y : 90 - (y - 24) / 2;
      fill(canvas, 0, y, IMAGE_WIDTH, 1, [shade - 10, shade - 5, shade + 5]);
    }
    fill(canvas, 0, 60, IMAGE_WIDTH, 2, [210, 180, 40]);
    backgroundPixels = canvas.data;
  }
  return backgroundPixels;
}

function drawCar(canvas: Canvas, { plate, direction, color }: CarPicture): void {
  const darker: Rgb = [color[0] * 0.6, color[1] * 0.6, color[2] * 0.6];
  fill(canvas, 22, 10, 52, 13, darker);
  fill(canvas, 26, 13, 44, 9, direction === 'entry' ? [110, 135, 160] : [70, 85, 100]);
  fill(canvas, 10, 22, 76, 30, color);
  fill(canvas, 14, 50, 14, 9, [20, 20, 20]);
  fill(canvas, 68, 50, 14, 9, [20, 20, 20]);
  const lights: Rgb = direction === 'entry' ? [245, 235, 160] : [210, 25, 25];
  fill(canvas, 12, 28, 10, 6, lights);
  fill(canvas, 74, 28, 10, 6, lights);
  drawPlate(canvas, plate.toUpperCase(), 40);
}

function drawPlate(canvas: Canvas, text: string, top: number): void {
  const chars = [...text].filter((c) => c in GLYPHS);
  const width = chars.length * 4 + 3;
  const left = Math.max(0, Math.floor((IMAGE_WIDTH - width) / 2));
  fill(canvas, left, top, width, 9, [20, 20, 20]);
  fill(canvas, left + 1, top + 1, width - 2, 7, [245, 245, 245]);
  chars.forEach((char, i) => {
    GLYPHS[char].split('/').forEach((row, y) => {
      for (let x = 0; x < 3; x++)
        if (row[x] === '#') fill(canvas, left + 2 + i * 4 + x, top + 2 + y, 1, 1, [15, 15, 15]);
    });
  });
}

function fill(canvas: Canvas, x0: number, y0: number, w: number, h: number, [r, g, b]: Rgb): void {
  const x1 = Math.min(canvas.width, x0 + w);
  const y1 = Math.min(canvas.data.length / 3 / canvas.width, y0 + h);
  for (let y = Math.max(0, y0); y < y1; y++) {
    for (let x = Math.max(0, x0); x < x1; x++) {
      const i = (y * canvas.width + x) * 3;
      canvas.data[i] = r;
      canvas.data[i + 1] = g;
      canvas.data[i + 2] = b;
    }
  }
}

/**
 * Sensor noise: one pixel in 32 off by ±2 levels, from a xorshift stream seeded once per frame (cheaper than a draw
 * per pixel). Denser noise makes frames larger than the 1–4 KB a small camera thumbnail has.
 */
function addNoise(canvas: Canvas, random: Random): void {
  let state = random.int(1, 0x7fffffff);
  for (let i = 0; i < canvas.data.length; i += 3) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const bits = state & 31;
    if (bits > 1) continue;
    const noise = bits === 0 ? -2 : 2;
    canvas.data[i] = clamp(canvas.data[i] + noise);
    canvas.data[i + 1] = clamp(canvas.data[i + 1] + noise);
    canvas.data[i + 2] = clamp(canvas.data[i + 2] + noise);
  }
}

function clamp(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}
