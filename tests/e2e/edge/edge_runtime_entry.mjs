// The probes in Vercel's route shape (as vercel_route.mjs is): environment from process.env.
import scenario from "./scenario.mjs";

export const GET = (request) => scenario.fetch(request, process.env);
export const POST = GET;
