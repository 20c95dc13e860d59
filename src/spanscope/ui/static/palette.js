// Service colours: a palette with no red in it, because red means error everywhere in the
// UI (style.css --error). serviceColor(name) picks a colour from the name's hash, so a
// service looks the same in every view; assignColors(names) gives each of a set of names
// a different colour (the service map), starting from the same hash-picked slot and
// moving to the next free one when two names collide. Pure: no DOM.

// Hues 30..310 in two lightnesses: orange, yellow, greens, teals, blues, violets, magenta;
// nothing within 45° of red (hue 0/360), which error marks use.
const HUES = [30, 48, 66, 90, 120, 150, 172, 190, 205, 220, 238, 258, 278, 300];
export const PALETTE = [...HUES.map((hue) => `hsl(${hue} 62% 48%)`), ...HUES.map((hue) => `hsl(${hue} 45% 34%)`)];

const assigned = new Map();

function hash(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Distinct colours for `names` (sorted, so the same set always gets the same colours). */
export function assignColors(names) {
  const out = new Map();
  const used = new Set();
  for (const name of [...new Set(names)].sort()) {
    let slot = hash(name) % PALETTE.length;
    for (let k = 0; k < PALETTE.length && used.has(slot); k++) slot = (slot + 1) % PALETTE.length;
    used.add(slot);
    out.set(name, PALETTE[slot]); // past PALETTE.length services, colours repeat
  }
  return out;
}

/** Let every view use the distinct colours of this set of services (the map calls it). */
export function useServiceNames(names) {
  for (const [name, colour] of assignColors(names)) assigned.set(name, colour);
}

/** A stable colour per service name, never the error red. */
export function serviceColor(name) {
  return assigned.get(name) || PALETTE[hash(String(name)) % PALETTE.length];
}
