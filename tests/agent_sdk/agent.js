'use strict';
// A small agent made of LivePerson's own node-agent-sdk (unmodified, from npm), driven by the
// Python tests over stdin/stdout: one JSON command per line in, one JSON answer per line out.
//
// Configuration (environment): AGENT_ACCOUNT, AGENT_CSDS (host:port of the Domain API),
// AGENT_USERNAME, AGENT_PASSWORD, AGENT_REFRESH_MS (the SDK's session refresh period).
// TLS is verified by Node against its CAs plus NODE_EXTRA_CA_CERTS; nothing turns it off.
//
// Out, unasked: {"event": "connected"} once the socket is up and the agent is ONLINE and
// subscribed; {"event": "error", "message"} for every error the SDK emits; {"event": "closed"}.
// Commands: {"id", "cmd", ...}; answers: {"id", "ok": true, ...} or {"id", "error": "..."}.
//   wait_ring {timeout_ms}            → {ring: {ringId, conversationId, consumerId}}
//   accept {ringId}                   → {}
//   profile {conversationId}          → {consumerId, sdes}
//   wait_files {conversationId, count, timeout_ms} → {files: [{sequence, relativePath, caption, fileType}]}
//   wait_text_count {conversationId, count, timeout_ms} → {texts: [...]} (consumer texts)
//   download {relativePath}           → {sha256, size}
//   send_file {conversationId, path, fileType, caption} → {sequence}
//   send_text {conversationId, text}  → {sequence}
//   close {conversationId}            → {}
//   clock {}                          → {currentTime}
//   quit {}

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const readline = require('readline');
const Agent = require('node-agent-sdk').Agent;

const env = process.env;
const agent = new Agent({
    accountId: env.AGENT_ACCOUNT,
    username: env.AGENT_USERNAME,
    password: env.AGENT_PASSWORD,
    csdsDomain: env.AGENT_CSDS,
    refreshSessionInterval: Number(env.AGENT_REFRESH_MS || 600000),
});

const rings = [];                 // every WAITING ring seen, in order
const conversations = {};         // convId → latest conversationDetails (v3, from the SDK)
const events = {};                // convId → {sequence → change}
const subscribed = new Set();
let waiters = [];

function say(message) {
    process.stdout.write(JSON.stringify(message) + '\n');
}

function recheck() {
    waiters = waiters.filter(waiter => !waiter());
}

// Resolves with check()'s first truthy value, re-checked on every notification.
function waitFor(check, timeoutMs, what) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            waiters = waiters.filter(w => w !== waiter);
            reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const waiter = () => {
            const value = check();
            if (value) {
                clearTimeout(timer);
                resolve(value);
                return true;
            }
            return false;
        };
        if (!waiter()) waiters.push(waiter);
    });
}

function call(method, body) {
    return new Promise((resolve, reject) => {
        agent[method](body, (error, response) => {
            if (error) reject(new Error(`${method}: ${JSON.stringify(error.body || error.message || error)}`));
            else resolve(response);
        });
    });
}

function httpsRequest(method, url, data) {
    return new Promise((resolve, reject) => {
        const request = https.request(url, {method: method}, response => {
            const chunks = [];
            response.on('data', chunk => chunks.push(chunk));
            response.on('end', () => resolve({status: response.statusCode, body: Buffer.concat(chunks)}));
        });
        request.on('error', reject);
        if (data) request.write(data);
        request.end();
    });
}

function swiftHost() {
    return new Promise((resolve, reject) => agent.csdsClient.getAll((error, domains) => {
        if (error || !domains || !domains.swift) reject(error || new Error('no swift domain'));
        else resolve(domains.swift);
    }));
}

async function signedUrl(answer) {
    const query = new URLSearchParams(answer.queryParams).toString();
    return `https://${await swiftHost()}${answer.relativePath}?${query}`;
}

function contentEvents(conversationId, contentType) {
    const byId = events[conversationId] || {};
    return Object.values(byId)
        .filter(c => c.event && c.event.type === 'ContentEvent' && c.event.contentType === contentType)
        .filter(c => c.originatorMetadata && c.originatorMetadata.role === 'CONSUMER')
        .sort((a, b) => a.sequence - b.sequence);
}

agent.on('connected', async () => {
    try {
        await call('setAgentState', {availability: 'ONLINE'});
        await call('subscribeRoutingTasks', {});
        await call('subscribeExConversations', {convState: ['OPEN', 'CLOSE'], agentIds: [agent.agentId]});
        say({event: 'connected', agentId: agent.agentId});
    } catch (error) {
        say({event: 'error', message: error.message});
    }
});

agent.on('routing.RoutingTaskNotification', body => {
    body.changes.forEach(change => {
        if (change.type !== 'UPSERT') return;
        change.result.ringsDetails.forEach(ring => {
            if (ring.ringState === 'WAITING') {
                rings.push({ringId: ring.ringId, conversationId: change.result.conversationId,
                    consumerId: change.result.consumerId});
            }
        });
    });
    recheck();
});

agent.on('cqm.ExConversationChangeNotification', body => {
    body.changes.forEach(change => {
        conversations[change.result.convId] = change.result.conversationDetails;
        if (change.type === 'UPSERT' && !subscribed.has(change.result.convId)) {
            // As the SDK's README advises: notifications may miss content, so follow it.
            subscribed.add(change.result.convId);
            agent.subscribeMessagingEvents({dialogId: change.result.convId}, error => {
                if (error) say({event: 'error', message: JSON.stringify(error)});
            });
        }
    });
    recheck();
});

agent.on('ms.MessagingEventNotification', body => {
    body.changes.forEach(change => {
        if (typeof change.sequence !== 'number') return;
        const byId = events[change.dialogId] = events[change.dialogId] || {};
        byId[change.sequence] = change;
    });
    recheck();
});

agent.on('error', error => say({event: 'error', message: String(error && (error.message || error.code || error))}));
agent.on('closed', code => say({event: 'closed', code: code}));

const commands = {
    async wait_ring(command) {
        const ring = await waitFor(() => rings.shift(), command.timeout_ms, 'a ring');
        return {ring: ring};
    },
    async accept(command) {
        await call('updateRingState', {ringId: command.ringId, ringState: 'ACCEPTED'});
        return {};
    },
    async profile(command) {
        const details = await waitFor(() => conversations[command.conversationId], 10000, 'the conversation');
        const consumer = details.participants.find(p => p.role === 'CONSUMER');
        const sdes = await new Promise((resolve, reject) => agent.getUserProfile(consumer.id,
            (error, profile) => error ? reject(new Error(JSON.stringify(error))) : resolve(profile)));
        return {consumerId: consumer.id, sdes: sdes};
    },
    async wait_files(command) {
        const files = await waitFor(() => {
            const found = contentEvents(command.conversationId, 'hosted/file');
            return found.length >= command.count && found;
        }, command.timeout_ms, `${command.count} files`);
        return {files: files.map(c => Object.assign({sequence: c.sequence}, c.event.message))};
    },
    async download(command) {
        const answer = await call('generateURLForDownloadFile', {relativePath: command.relativePath});
        const response = await httpsRequest('GET', await signedUrl(answer));
        if (response.status !== 200) throw new Error(`download answered ${response.status}`);
        const sha256 = crypto.createHash('sha256').update(response.body).digest('hex');
        return {sha256: sha256, size: response.body.length};
    },
    async send_file(command) {
        const data = fs.readFileSync(command.path);
        const answer = await call('generateURLForUploadFile', {fileSize: data.length, fileType: command.fileType});
        const response = await httpsRequest('PUT', await signedUrl(answer), data);
        if (response.status !== 201) throw new Error(`upload answered ${response.status}`);
        const published = await call('publishEvent', {dialogId: command.conversationId, event: {
            type: 'ContentEvent', contentType: 'hosted/file',
            message: {caption: command.caption, relativePath: answer.relativePath, fileType: command.fileType}}});
        return {sequence: published.sequence};
    },
    async send_text(command) {
        const published = await call('publishEvent', {dialogId: command.conversationId, event: {
            type: 'ContentEvent', contentType: 'text/plain', message: command.text}});
        return {sequence: published.sequence};
    },
    async close(command) {
        await call('updateConversationField', {conversationId: command.conversationId,
            conversationField: [{field: 'ConversationStateField', conversationState: 'CLOSE'}]});
        return {};
    },
    async clock() {
        return await call('getClock', {});
    },
    async quit() {
        agent.dispose();
        setImmediate(() => process.exit(0));
        return {};
    },
};

readline.createInterface({input: process.stdin}).on('line', async line => {
    let command = {};
    try {
        command = JSON.parse(line);
        const run = commands[command.cmd];
        if (!run) throw new Error(`unknown command ${command.cmd}`);
        say(Object.assign({id: command.id, ok: true}, await run(command)));
    } catch (error) {
        say({id: command.id, error: error.message});
    }
});
