const {GoogleGenAI, Modality} = require('@google/genai');
const port = process.argv[2];
const ai = new GoogleGenAI({apiKey: 'TEST_KEY', httpOptions: {baseUrl: `https://127.0.0.1:${port}`, apiVersion: 'v1beta'}});
(async () => {
  const got = [];
  let done;
  const finished = new Promise(r => done = r);
  const session = await ai.live.connect({
    model: 'gemini-live-2.5-flash-preview',
    config: {responseModalities: [Modality.TEXT]},
    callbacks: {
      onmessage: (m) => { got.push(m); if (m.serverContent && m.serverContent.turnComplete) done(); },
      onerror: (e) => { console.error('error', e.message); done(); },
      onclose: (e) => { console.error('close', e.code, e.reason); done(); },
    },
  });
  session.sendRealtimeInput({text: 'hello from node'});
  await finished;
  session.close();
  const text = got.map(m => m.text || '').join('');
  console.log(JSON.stringify({messages: got.length, text}));
})();
