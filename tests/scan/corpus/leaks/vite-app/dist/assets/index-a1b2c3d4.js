const Ve={BASE_URL:"/",MODE:"production",DEV:!1,PROD:!0,SSR:!1,VITE_UPSTASH_REDIS_REST_TOKEN:"AXppAAIjOGMxZjJlNGEtOTBiMy00ZDZlLThmN2EtMWIyYzNkNGU1ZjYwOWE4YjdjNmQ1ZTRmM2EyYjFjMGQ="};function Xe(){return new Wt({url:"https://eu1-fine-cat-31337.upstash.io",token:Ve.VITE_UPSTASH_REDIS_REST_TOKEN})}export{Xe as c};
//# sourceMappingURL=index-a1b2c3d4.js.map
