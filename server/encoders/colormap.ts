import { BadRequestError } from '../errors.ts';

/** Anchor stops: hex colours, evenly spaced unless `at` gives their positions in 0..1. */
interface Anchors {
  colors: string[];
  at?: number[];
}

// Sampled at 0, 0.1, …, 1 from matplotlib's tables (via d3-scale-chromatic, which copies them);
// linear interpolation between 11 stops stays within a couple of RGB units of the originals.
const ANCHORS: Record<string, Anchors> = {
  viridis: { colors: ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884', '#44bf70', '#7ad151', '#bddf26', '#fde725'] },
  magma: { colors: ['#000004', '#140e36', '#3b0f70', '#641a80', '#8c2981', '#b73779', '#de4968', '#f7705c', '#fe9f6d', '#fecf92', '#fcfdbf'] },
  inferno: { colors: ['#000004', '#160b39', '#420a68', '#6a176e', '#932667', '#bc3754', '#dd513a', '#f37819', '#fca50a', '#f6d746', '#fcffa4'] },
  plasma: { colors: ['#0d0887', '#41049d', '#6a00a8', '#8f0da4', '#b12a90', '#cc4778', '#e16462', '#f2844b', '#fca636', '#fcce25', '#f0f921'] },
  cividis: { colors: ['#002051', '#0a326a', '#2b446e', '#4d566d', '#696970', '#7f7c75', '#948f78', '#ada476', '#caba6a', '#ead156', '#fdea45'] },
  turbo: { colors: ['#23171b', '#4a58dd', '#2f9df5', '#27d7c4', '#4df884', '#95fb51', '#dedd32', '#ffa423', '#f65f18', '#ba2208', '#900c00'] },
  rdylgn: { colors: ['#a50026', '#d4322c', '#f16e43', '#fcac63', '#fedd8d', '#f9f7ae', '#d7ee8e', '#a4d86e', '#64bc61', '#22964f', '#006837'] },
  spectral: { colors: ['#9e0142', '#d13c4b', '#f0704a', '#fcac63', '#fedd8d', '#fbf8b0', '#e0f3a1', '#a9dda2', '#69bda9', '#4288b5', '#5e4fa2'] },
  rdbu: { colors: ['#67001f', '#ac202f', '#d56050', '#f1a385', '#fbd7c4', '#f2efee', '#cde3ee', '#8fc2dd', '#4b94c4', '#2265a3', '#053061'] },
  blues: { colors: ['#f7fbff', '#e3eef9', '#cfe1f2', '#b5d4e9', '#93c3df', '#6daed5', '#4b97c9', '#2f7ebc', '#1864aa', '#0a4a90', '#08306b'] },
  // matplotlib's Greys runs white → black; `gray` is the black → white ramp.
  greys: { colors: ['#ffffff', '#000000'] },
  gray: { colors: ['#000000', '#ffffff'] },
  // matplotlib's terrain is segmented: these are its exact breakpoints.
  terrain: { colors: ['#333399', '#0099ff', '#00cc66', '#ffff99', '#805c54', '#ffffff'], at: [0, 0.15, 0.25, 0.5, 0.75, 1] },
};

/** Names accepted by `colormap=`; each also works reversed with an `_r` suffix (e.g. `viridis_r`). */
export const COLORMAP_NAMES: readonly string[] = Object.freeze(Object.keys(ANCHORS).sort());

const cache = new Map<string, Uint8Array>();
const HEX = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i;

/**
 * Resolves a colormap to a 256-entry RGB lookup table (768 bytes: r, g, b for value 0, then 1, …).
 * Accepts a name (`viridis`, `magma_r`, case-insensitive), comma-separated hex stops spread evenly
 * (`#440154,#21918c,#fde725`), a JSON array of hex strings, or an array of hex strings.
 * Named tables are built once and shared: treat the result as read-only.
 * @throws BadRequestError for an unknown name or a malformed colour.
 * @example resolveColormap('viridis').subarray(0, 3) // Uint8Array [68, 1, 84]
 */
export function resolveColormap(spec: string | string[]): Uint8Array {
  if (Array.isArray(spec)) return lutFromAnchors({ colors: spec.map(parseHex) });
  const text = spec.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw badColormap(`colormap=${text} is not a valid JSON array of "#rrggbb" strings.`);
    }
    if (!Array.isArray(parsed) || !parsed.every((c) => typeof c === 'string')) {
      throw badColormap(`colormap=${text} must be a JSON array of "#rrggbb" strings.`);
    }
    return resolveColormap(parsed as string[]);
  }
  if (text.includes(',') || text.startsWith('#')) return resolveColormap(text.split(','));

  const name = text.toLowerCase();
  let lut = cache.get(name);
  if (!lut) {
    const reversed = name.endsWith('_r');
    const anchors = ANCHORS[reversed ? name.slice(0, -2) : name];
    if (!anchors) {
      throw badColormap(
        `Unknown colormap "${text}". Known colormaps: ${COLORMAP_NAMES.join(', ')} (add _r to reverse), or give hex stops like colormap=#440154,#21918c,#fde725.`,
      );
    }
    lut = lutFromAnchors(anchors);
    if (reversed) lut = reverseLut(lut);
    cache.set(name, lut);
  }
  return lut;
}

function badColormap(message: string): BadRequestError {
  return new BadRequestError(message, 'invalid_parameter', { parameter: 'colormap', known: COLORMAP_NAMES });
}

function parseHex(color: string): string {
  const m = HEX.exec(color.trim());
  if (!m) throw badColormap(`Colormap stop "${color}" is not a hex colour like #21918c.`);
  const h = m[1];
  return h.length === 3 ? h[0] + h[0] + h[1] + h[1] + h[2] + h[2] : h;
}

function lutFromAnchors({ colors, at }: Anchors): Uint8Array {
  if (colors.length < 2) throw badColormap('A custom colormap needs at least two colours.');
  const rgb = colors.map((c) => {
    const n = Number.parseInt(parseHex(c), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  });
  const pos = at ?? colors.map((_, i) => i / (colors.length - 1));
  const lut = new Uint8Array(768);
  let seg = 0;
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    while (seg < pos.length - 2 && t > pos[seg + 1]) seg++;
    const f = (t - pos[seg]) / (pos[seg + 1] - pos[seg]);
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(rgb[seg][c] + (rgb[seg + 1][c] - rgb[seg][c]) * f);
  }
  return lut;
}

function reverseLut(lut: Uint8Array): Uint8Array {
  const out = new Uint8Array(768);
  for (let i = 0; i < 256; i++) out.set(lut.subarray((255 - i) * 3, (255 - i) * 3 + 3), i * 3);
  return out;
}
