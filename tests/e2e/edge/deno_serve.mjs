// Deno (`deno serve --allow-net --allow-env main.mjs`, or Deno Deploy): the same function, with
// its environment from Deno.env.
import fn from "./function.mjs";

export default { fetch: (request) => fn.fetch(request, Deno.env.toObject()) };
