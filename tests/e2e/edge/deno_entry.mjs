// One invocation in Deno: imports the bundled module and serves one request with it.
// stdin: {"env": {...}, "request": {"method", "path", "body"}}; stdout: {"status", "text"}.
const { env, request } = JSON.parse(await new Response(Deno.stdin.readable).text());
const { default: fn } = await import(new URL(`file://${Deno.args[0]}`).href);
const res = await fn.fetch(new Request(`http://edge.test${request.path}`,
                                       { method: request.method, body: request.body }), env);
console.log(JSON.stringify({ status: res.status, text: await res.text() }));
